import Foundation
import Tensor
import XCTest

/// A `.npy` version 1.0 image from a header text (padded as NumPy pads it) and data bytes.
private func npy(_ header: String, _ data: [UInt8] = [], version: UInt8 = 1) -> [UInt8] {
    var h = Array(header.utf8)
    let preamble = version == 1 ? 10 : 12
    h += Array(repeating: UInt8(ascii: " "), count: (64 - (preamble + h.count + 1) % 64) % 64)
    h.append(UInt8(ascii: "\n"))
    let length = version == 1 ? ioLE([UInt16(h.count)]) : ioLE([UInt32(h.count)])
    return [0x93] + Array("NUMPY".utf8) + [version, 0] + length + h + data
}

private func f32LE(_ values: [Float]) -> [UInt8] { ioLE(values.map(\.bitPattern)) }

final class NPYTests: XCTestCase {
    private var dir: IOTempDirectory!

    override func setUpWithError() throws { dir = try IOTempDirectory("NPYTests") }
    override func tearDown() { dir.remove() }

    private func fixture(_ name: String) throws -> Tensor { try NPY.read(path: ioFixturePath(name)) }

    // MARK: Files written by NumPy

    func testFloatTypes() throws {
        let f4 = try fixture("f4_2x3.npy")
        XCTAssertEqual(f4.shape, [2, 3])
        XCTAssertEqual(f4.storage, [-1, -0.5, 0, 0.5, 1, 1.5])
        let f8 = try fixture("f8_be_3x2.npy")
        XCTAssertEqual(f8.shape, [3, 2])
        XCTAssertEqual(f8.storage, [1, 1.25, 1.5, 1.75, 2, 2.25])
        let f2 = try fixture("f2_4.npy")
        XCTAssertEqual(f2.storage, [1.5, -2, 65504, 0x1p-24])
    }

    func testIntegerAndBoolTypes() throws {
        XCTAssertEqual(try fixture("u1_5.npy").storage, [0, 1, 127, 128, 255])
        XCTAssertEqual(try fixture("i1_4.npy").storage, [-128, -1, 0, 127])
        let b = try fixture("b1_2x2.npy")
        XCTAssertEqual(b.shape, [2, 2])
        XCTAssertEqual(b.storage, [1, 0, 0, 1])
        XCTAssertEqual(try fixture("u2_be_3.npy").storage, [0, 1, 65535])
        XCTAssertEqual(try fixture("i4_3.npy").storage, [-2_147_483_648, 0, 2_147_483_648])  // nearest float
        XCTAssertEqual(try fixture("u4_2.npy").storage, [0, 4_294_967_296])
        XCTAssertEqual(try fixture("i8_3.npy").storage, [-0x1p40, 0, 0x1p40])
        XCTAssertEqual(try fixture("u8_2.npy").storage, [0, 0x1p53])
    }

    func testFortranOrderIsTransposedToRowMajor() throws {
        let t = try fixture("i2_fortran_2x3x4.npy")
        XCTAssertEqual(t.shape, [2, 3, 4])
        XCTAssertEqual(t.storage, (0 ..< 24).map { Float($0 - 10) })
        // By hand, a 2x3 in Fortran order: columns first.
        let bytes = npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", f32LE([1, 4, 2, 5, 3, 6]))
        XCTAssertEqual(try NPY.read(bytes: bytes, source: "f.npy").storage, [1, 2, 3, 4, 5, 6])
    }

    func testScalarEmptyAndLaterVersions() throws {
        let s = try fixture("scalar.npy")
        XCTAssertEqual(s.shape, [])
        XCTAssertEqual(s.storage, [3.25])
        let e = try fixture("empty_0x3.npy")
        XCTAssertEqual(e.shape, [0, 3])
        XCTAssertEqual(e.count, 0)
        let v2 = try fixture("v2_f4_2x2.npy")
        XCTAssertEqual(v2.shape, [2, 2])
        XCTAssertEqual(v2.storage, [0, 1, 2, 3])
        XCTAssertEqual(try fixture("v3_f4_3.npy").storage, [0, 2, 4])
    }

    func testHeaderVariants() throws {
        let data = f32LE([1, 2, 3, 4, 5, 6])
        let variants = [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }",  // Python 2
            "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 3)}",
            "{'shape':(2,3),'fortran_order':False,'descr':'<f4','extra':[1,(2,),{'x':None}]}",
            "  {'descr': '=f4', 'fortran_order': False, 'shape': ( 2 , 3 , ) }",
        ]
        for header in variants {
            let t = try NPY.read(bytes: npy(header, data), source: "v.npy")
            XCTAssertEqual(t.shape, [2, 3], header)
            XCTAssertEqual(t.storage, [1, 2, 3, 4, 5, 6], header)
        }
        let one = try NPY.read(bytes: npy("{'descr': '>i2', 'fortran_order': False, 'shape': (1,), }", ioBE([Int16(-2)])),
                               source: "one.npy")
        XCTAssertEqual(one.storage, [-2])
    }

    // MARK: Writing

    func testWriteMatchesNumPyByteForByte() throws {
        let t = try Tensor(shape: [2, 3], storage: [-1, -0.5, 0, 0.5, 1, 1.5])
        XCTAssertEqual(NPY.encode(t), try ioFixtureBytes("f4_2x3.npy"))
        let v = try Tensor(shape: [3], storage: [0, 2, 4])
        let encoded = NPY.encode(v)
        let headerLength = Int(encoded[8]) | Int(encoded[9]) << 8
        XCTAssertEqual((10 + headerLength) % 64, 0)
        let header = String(decoding: encoded[10 ..< 10 + headerLength], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"), header)
        XCTAssertTrue(header.hasSuffix(" \n"))
        XCTAssertEqual(Array(encoded[(10 + headerLength)...]), f32LE([0, 2, 4]))
        XCTAssertEqual(String(decoding: NPY.encode(Tensor(scalar: 1))[10 ..< 60], as: UTF8.self),
                       "{'descr': '<f4', 'fortran_order': False, 'shape': (), }".prefix(50).description)
    }

    func testWriteRoundTripsAtomically() throws {
        let file = dir.path("out.npy")
        for shape in [[], [0], [5], [2, 3, 4], [1, 1, 1, 1, 2]] {
            let n = shape.reduce(1, *)
            let t = try Tensor(shape: shape, storage: (0 ..< n).map { Float($0) * 0.75 - 2 })
            try NPY.write(path: file, tensor: t)
            let back = try NPY.read(path: file)
            XCTAssertEqual(back.shape, shape)
            XCTAssertEqual(back.storage, t.storage)
        }
        XCTAssertEqual(dir.contents(), ["out.npy"])
        let missing = dir.path("no/such/out.npy")
        assertTensorError("npy: cannot write '\(missing)'", ["No such file or directory"]) {
            try NPY.write(path: missing, tensor: Tensor(scalar: 1))
        }
        assertTensorError("npy: cannot open '\(missing)'") { _ = try NPY.read(path: missing) }
    }

    // MARK: Malformed files

    func testMalformedFilesThrowNamingTheFile() throws {
        let ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
        let data = f32LE([1, 2])
        XCTAssertNoThrow(try NPY.read(bytes: npy(ok, data), source: "ok.npy"))
        let cases: [([UInt8], [String])] = [
            ([], ["not a .npy file", "nothing (empty)"]),
            (Array("PK\u{3}\u{4}....".utf8), ["not a .npy file", "'PK\\x03\\x04"]),
            (Array(npy(ok, data)[0 ..< 9]), ["too short"]),
            (npy(ok, data, version: 4), ["unsupported .npy format version 4.0"]),
            (Array(npy(ok, data)[0 ..< 40]), ["header length 118 is larger than the 30 bytes", "truncated"]),
            (npy("{'descr': '<f4', 'fortran_order': False}", data), ["no 'shape' key"]),
            (npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", data), ["structured arrays"]),
            (npy("{'descr': '|O', 'fortran_order': False, 'shape': (2,)}", data), ["'|O'", "unpickling"]),
            (npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}", data), ["'<c8'", "complex"]),
            (npy("{'descr': 'f4', 'fortran_order': False, 'shape': (2,)}", data), ["unsupported dtype 'f4'"]),
            (npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}", data), ["'fortran_order' must be True or False"]),
            (npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", data), ["'shape' must be a tuple", "integer 2"]),
            (npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", data), ["non-negative"]),
            (npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,3)}", data), ["needs 6 values, 24 bytes", "only 8"]),
            (npy(ok, data + [0, 0, 0, 0]), ["needs 8 bytes, but 12", "several arrays"]),
            (npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576, 1048576)}", data), ["too large"]),
            (npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", data), ["too large for 64 bits"]),
            (npy("{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}", data), ["not a valid Python literal"]),
            (npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x", data), ["expected the end of the header"]),
            (npy("['descr']", data), ["must be a Python dict literal"]),
            (npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", data), ["'descr' twice"]),
            (npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': " + String(repeating: "(", count: 40)
                 + String(repeating: ")", count: 40) + "}", data), ["nested more than 16 levels"]),
        ]
        for (n, (bytes, fragments)) in cases.enumerated() {
            assertTensorError("npy: bad\(n).npy: ", fragments) { _ = try NPY.read(bytes: bytes, source: "bad\(n).npy") }
        }
    }

    func testRandomCorruptionsNeverCrash() throws {
        let f4 = try ioFixtureBytes("f4_2x3.npy")
        let fortran = try ioFixtureBytes("i2_fortran_2x3x4.npy")
        let f2 = try ioFixtureBytes("f2_4.npy")
        var thrown = 0
        for (n, valid) in [f4, fortran, f2].enumerated() {
            let result = ioFuzz(valid, rounds: 300, seed: UInt64(101 + n), prefix: "npy: fuzz.npy: ", focus: 0 ..< 80) {
                _ = try NPY.read(bytes: $0, source: "fuzz.npy")
            }
            XCTAssertEqual(result.read + result.thrown, 300)
            thrown += result.thrown
        }
        XCTAssertGreaterThan(thrown, 300)
    }
}
