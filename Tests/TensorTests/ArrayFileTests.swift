import Foundation
import Tensor
import XCTest

final class ArrayFileTests: XCTestCase {
    func testKindFromTheName() {
        let cases: [(String, ArrayFile.Kind?)] = [
            ("a.npy", .npy), ("dir.v2/A.NPY", .npy),
            ("ct.nii", .nifti), ("ct.nii.gz", .nifti), ("x/CT.NII.GZ", .nifti),
            ("train-images-idx3-ubyte", .idx), ("train-images-idx3-ubyte.gz", .idx),
            ("t10k-labels.idx1-ubyte", .idx), ("data.idx", .idx), ("data.idx.gz", .idx),
            ("my-idx-file.bin", .idx),
            ("a.npz", nil), ("a.png", nil), ("a.gz", nil), ("idx/a.bin", nil), ("nii", nil), ("", nil),
        ]
        for (name, kind) in cases {
            XCTAssertEqual(ArrayFile.kind(of: name), kind, name)
        }
    }

    func testReadsEachFormat() throws {
        XCTAssertEqual(try ArrayFile.read(path: ioFixturePath("f4_2x3.npy")).shape, [2, 3])
        XCTAssertEqual(try ArrayFile.read(path: ioFixturePath("i2_scaled_be.nii")).shape, [2, 3, 4])
        XCTAssertEqual(try ArrayFile.read(path: ioFixturePath("f4_plain.nii.gz")).shape, [2, 2, 3])
        XCTAssertEqual(try ArrayFile.read(path: ioFixturePath("mini-images-idx3-ubyte.gz")).shape, [3, 4, 5])
        XCTAssertEqual(try ArrayFile.read(path: ioFixturePath("mini-labels-idx1-ubyte")).storage, [7, 0, 9])
        XCTAssertEqual(try ArrayFile.read(path: ioFixturePath("f64.idx.gz")).shape, [2, 3])
    }

    func testUnknownNamesAndArchivesAreRefused() throws {
        assertTensorError("read_array: cannot tell the format of 'scan.mha'", [".npy, .nii, .nii.gz", "-ubyte", ".gz"]) {
            _ = try ArrayFile.read(path: "scan.mha")
        }
        assertTensorError("read_array: '\(ioFixturePath("stored.npz"))' is an .npz archive", ["NPZ.read"]) {
            _ = try ArrayFile.read(path: ioFixturePath("stored.npz"))
        }
        // The name picks the reader, whose error names the file.
        let dir = try IOTempDirectory("ArrayFileTests")
        defer { dir.remove() }
        let wrong = try dir.write(try ioFixtureBytes("f4_2x3.npy"), "f4.nii")
        assertTensorError("nifti: \(wrong): ", ["not a NIfTI-1 file"]) { _ = try ArrayFile.read(path: wrong) }
        assertTensorError("npy: cannot open '/no/such.npy'") { _ = try ArrayFile.read(path: "/no/such.npy") }
    }
}
