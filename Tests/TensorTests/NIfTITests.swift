import Foundation
import Tensor
import XCTest

/// A single-file NIfTI-1 image: the 348-byte header, 4 bytes of extension flag, the data.
private func nifti(dims: [Int16], datatype: Int16, bitpix: Int16, data: [UInt8], bigEndian: Bool = false,
                   voxOffset: Float = 352, slope: Float = 1, intercept: Float = 0,
                   magic: [UInt8] = Array("n+1\0".utf8), sizeofHdr: Int32 = 348) -> [UInt8] {
    var h = [UInt8](repeating: 0, count: 348)
    func put(_ bytes: [UInt8], _ at: Int) { h.replaceSubrange(at ..< at + bytes.count, with: bytes) }
    func i16(_ v: [Int16]) -> [UInt8] { bigEndian ? ioBE(v) : ioLE(v) }
    func i32(_ v: [Int32]) -> [UInt8] { bigEndian ? ioBE(v) : ioLE(v) }
    func f32(_ v: [Float]) -> [UInt8] { bigEndian ? ioBE(v.map(\.bitPattern)) : ioLE(v.map(\.bitPattern)) }
    put(i32([sizeofHdr]), 0)
    var dim = [Int16](repeating: 1, count: 8)
    dim[0] = Int16(dims.count)
    for (k, d) in dims.enumerated() where k < 7 { dim[k + 1] = d }
    put(i16(dim), 40)
    put(i16([datatype, bitpix]), 70)
    put(f32([1, 1, 1, 1, 1, 1, 1, 1]), 76)
    put(f32([voxOffset, slope, intercept]), 108)
    put(magic, 344)
    let start = max(352, Int(voxOffset.isFinite && voxOffset >= 0 && voxOffset < 100_000 ? voxOffset : 352))
    return h + [UInt8](repeating: 0, count: start - 348) + data
}

final class NIfTITests: XCTestCase {
    /// The int16 volume of make_fixtures.py, x=4, y=3, z=2, scaled by 0.5 and -3, as (Z, Y, X).
    private var scaledVolume: [Float] {
        var out: [Float] = []
        for z in 0 ..< 2 {
            for y in 0 ..< 3 {
                for x in 0 ..< 4 {
                    let stored = (x * 6 + y * 2 + z) * 3 - 20
                    out.append(Float(stored) * 0.5 - 3)
                }
            }
        }
        return out
    }

    func testNibabelFilesBothByteOrdersWithSlopeAndIntercept() throws {
        for name in ["i2_scaled_le.nii", "i2_scaled_be.nii"] {
            let volume = try NIfTI.read(path: ioFixturePath(name))
            XCTAssertEqual(volume.shape, [2, 3, 4], name)
            XCTAssertEqual(volume.storage, scaledVolume, name)
        }
    }

    func testNibabelGzippedFiles() throws {
        let f = try NIfTI.read(path: ioFixturePath("f4_plain.nii.gz"))
        XCTAssertEqual(f.shape, [2, 2, 3])
        var expected: [Float] = []
        for z in 0 ..< 2 {
            for y in 0 ..< 2 {
                for x in 0 ..< 3 { expected.append(Float(x * 4 + y * 2 + z) * 0.25 - 1) }
            }
        }
        XCTAssertEqual(f.storage, expected)
        let u = try NIfTI.read(path: ioFixturePath("u1_2d.nii.gz"))
        XCTAssertEqual(u.shape, [1, 4, 5])
        var ramp: [Float] = []
        for y in 0 ..< 4 {
            for x in 0 ..< 5 { ramp.append(Float(x * 4 + y)) }
        }
        XCTAssertEqual(u.storage, ramp)
    }

    func testEveryDatatypeInBothByteOrders() throws {
        for bigEndian in [false, true] {
            func be<T: FixedWidthInteger>(_ v: [T]) -> [UInt8] { bigEndian ? ioBE(v) : ioLE(v) }
            let cases: [(Int16, Int16, [UInt8], [Float])] = [
                (2, 8, [0, 128, 255], [0, 128, 255]),
                (256, 8, [0x80, 0xFF, 1], [-128, -1, 1]),
                (4, 16, be([Int16(-1024), 0, 3071]), [-1024, 0, 3071]),
                (512, 16, be([UInt16(0), 40000, 65535]), [0, 40000, 65535]),
                (8, 32, be([Int32(-5), 7, 100_000]), [-5, 7, 100_000]),
                (768, 32, be([UInt32(0), 1, 4_000_000_000]), [0, 1, 4_000_000_000]),
                (1024, 64, be([Int64(-3), 0, 1 << 40]), [-3, 0, 0x1p40]),
                (1280, 64, be([UInt64(0), 9, 1 << 50]), [0, 9, 0x1p50]),
                (16, 32, be([Float(0.5), -2, 1e30].map(\.bitPattern)), [0.5, -2, 1e30]),
                (64, 64, be([Double(0.25), -1e-3, 7].map(\.bitPattern)), [0.25, Float(-1e-3), 7]),
            ]
            for (datatype, bitpix, data, expected) in cases {
                let file = nifti(dims: [3, 1, 1], datatype: datatype, bitpix: bitpix, data: data, bigEndian: bigEndian)
                let v = try NIfTI.read(bytes: file, source: "t.nii")
                XCTAssertEqual(v.shape, [1, 1, 3], "datatype \(datatype)")
                XCTAssertEqual(v.storage, expected, "datatype \(datatype), big-endian \(bigEndian)")
                let gz = try NIfTI.read(bytes: ioGzipStored(file), source: "t.nii.gz")
                XCTAssertEqual(gz.storage, expected, "gzipped datatype \(datatype)")
            }
        }
    }

    func testScalingRulesAndOffsets() throws {
        let data = ioLE([Int16(-1000), 0, 1000])
        func read(_ slope: Float, _ intercept: Float) throws -> [Float] {
            try NIfTI.read(bytes: nifti(dims: [3], datatype: 4, bitpix: 16, data: data, slope: slope, intercept: intercept),
                           source: "s.nii").storage
        }
        XCTAssertEqual(try read(2, -1024), [-3024, -1024, 976])
        XCTAssertEqual(try read(0, 5), [-1000, 0, 1000])  // slope 0: no scaling at all
        XCTAssertEqual(try read(.nan, 5), [-1000, 0, 1000])
        XCTAssertEqual(try read(.infinity, 5), [-1000, 0, 1000])
        XCTAssertEqual(try read(1, .nan), [-1000, 0, 1000])
        // Scaling of wide integers happens in double precision.
        let wide = nifti(dims: [1], datatype: 8, bitpix: 32, data: ioLE([Int32(16_777_217)]), slope: 1, intercept: -1)
        XCTAssertEqual(try NIfTI.read(bytes: wide, source: "w.nii").storage, [16_777_216])

        // A 1-D file, a later vox_offset with extension bytes before the data, and vox_offset 0.
        let later = nifti(dims: [2], datatype: 2, bitpix: 8, data: [7, 9], voxOffset: 400)
        XCTAssertEqual(try NIfTI.read(bytes: later, source: "o.nii").storage, [7, 9])
        var zero = nifti(dims: [2], datatype: 2, bitpix: 8, data: [7, 9])
        zero.replaceSubrange(108 ..< 112, with: [0, 0, 0, 0])
        XCTAssertEqual(try NIfTI.read(bytes: zero, source: "z.nii").storage, [7, 9])
        // Trailing dimensions of size 1, and a 2-D image.
        let fourD = nifti(dims: [2, 1, 1, 1, 1], datatype: 2, bitpix: 8, data: [1, 2])
        XCTAssertEqual(try NIfTI.read(bytes: fourD, source: "4d.nii").shape, [1, 1, 2])
        let twoD = nifti(dims: [3, 2], datatype: 2, bitpix: 8, data: [1, 2, 3, 4, 5, 6])
        let image = try NIfTI.read(bytes: twoD, source: "2d.nii")
        XCTAssertEqual(image.shape, [1, 2, 3])
        XCTAssertEqual(image.storage, [1, 2, 3, 4, 5, 6])
        // Bytes after the voxels are ignored.
        XCTAssertEqual(try NIfTI.read(bytes: twoD + [0, 0], source: "2d.nii").shape, [1, 2, 3])
    }

    func testMalformedFilesThrowNamingTheFile() throws {
        let good = nifti(dims: [2, 2, 2], datatype: 2, bitpix: 8, data: [1, 2, 3, 4, 5, 6, 7, 8])
        XCTAssertNoThrow(try NIfTI.read(bytes: good, source: "good.nii"))
        let gz = ioGzipStored(good)
        let cases: [([UInt8], [String])] = [
            ([], ["too short"]),
            (Array(good[0 ..< 200]), ["200 bytes, too short for the 348-byte NIfTI-1 header"]),
            (Array("\u{89}PNG\r\n".utf8), ["not a NIfTI-1 file", "sizeof_hdr"]),
            (nifti(dims: [2], datatype: 2, bitpix: 8, data: [1, 2], sizeofHdr: 540), ["NIfTI-2"]),
            (nifti(dims: [2], datatype: 2, bitpix: 8, data: [1, 2], magic: Array("ni1\0".utf8)), ["pair", "'ni1'", ".img"]),
            (nifti(dims: [2], datatype: 2, bitpix: 8, data: [1, 2], magic: [0, 0, 0, 0]), ["no NIfTI-1 magic", "Analyze"]),
            (nifti(dims: [], datatype: 2, bitpix: 8, data: [1]), ["dim[0]", "is 0, expected 1 to 7"]),
            (nifti(dims: [2, -3], datatype: 2, bitpix: 8, data: [1, 2]), ["dim[2] is -3"]),
            (nifti(dims: [2, 2, 2, 5], datatype: 2, bitpix: 8, data: [UInt8](repeating: 0, count: 40)),
             ["dim[4] is 5", "time series"]),
            (nifti(dims: [2, 1, 1, 1, 3], datatype: 2, bitpix: 8, data: [1, 2]), ["dim[5] is 3", "more than 4 dimensions"]),
            (nifti(dims: [2], datatype: 128, bitpix: 24, data: [1, 2, 3, 4, 5, 6]), ["datatype 128 (RGB24) is not supported"]),
            (nifti(dims: [2], datatype: 2, bitpix: 8, data: [1, 2], voxOffset: 100), ["vox_offset is 100, inside the 348-byte header"]),
            (nifti(dims: [2], datatype: 2, bitpix: 8, data: [1, 2], voxOffset: 352.5), ["vox_offset is 352.5"]),
            (nifti(dims: [2], datatype: 2, bitpix: 8, data: [1, 2], voxOffset: -.infinity), ["vox_offset is -inf"]),
            (Array(good[0 ..< good.count - 1]), ["2x2x2 voxels need 8 bytes from byte 352", "has 359 bytes", "truncated"]),
            (nifti(dims: [30000, 30000, 30000], datatype: 16, bitpix: 32, data: []), ["too large"]),
            (Array(gz[0 ..< gz.count - 20]), ["gzip data ends early"]),
            (Array(gz[0 ..< 100]), ["too short for the 348-byte NIfTI-1 header"]),
            (ioGzipStored(nifti(dims: [1000, 1000, 100], datatype: 16, bitpix: 32, data: [])),
             ["400000000 bytes of voxels", "compressed bytes can hold"]),
            (ioGzipStored(good + [UInt8](repeating: 0, count: 2 << 20)), ["decompresses to more than"]),
        ]
        for (n, (bytes, fragments)) in cases.enumerated() {
            assertTensorError("nifti: bad\(n).nii: ", fragments) { _ = try NIfTI.read(bytes: bytes, source: "bad\(n).nii") }
        }
        assertTensorError("nifti: cannot open 'none.nii.gz'") { _ = try NIfTI.read(path: "none.nii.gz") }
    }

    func testRandomCorruptionsNeverCrash() throws {
        let files = [try ioFixtureBytes("i2_scaled_le.nii"), try ioFixtureBytes("i2_scaled_be.nii"),
                     try ioFixtureBytes("f4_plain.nii.gz")]
        var thrown = 0
        for (n, valid) in files.enumerated() {
            // Half the changes land in the fields that matter: sizeof_hdr, dims, datatype, offsets, magic.
            let result = ioFuzz(valid, rounds: 300, seed: UInt64(700 + n), prefix: "nifti: fuzz.nii: ",
                                focus: n == 2 ? nil : 0 ..< 120) { bytes in
                // Every other round gzips the damaged file, so that damaged headers reach the gzip path.
                _ = try NIfTI.read(bytes: bytes.count % 2 == 0 ? ioGzipStored(bytes) : bytes, source: "fuzz.nii")
            }
            XCTAssertEqual(result.read + result.thrown, 300)
            thrown += result.thrown
        }
        XCTAssertGreaterThan(thrown, 200)
    }

    // MARK: Helpers

    func testSlicesAlongEachAxis() throws {
        let v = try Tensor(shape: [2, 3, 4], storage: (0 ..< 24).map(Float.init))
        let z = try NIfTI.slices(v, axis: 0)
        XCTAssertEqual(z.count, 2)
        XCTAssertEqual(z[1].shape, [3, 4])
        XCTAssertEqual(z[1].storage, (12 ..< 24).map(Float.init))
        let y = try NIfTI.slices(v, axis: 1)
        XCTAssertEqual(y.count, 3)
        XCTAssertEqual(y[2].shape, [2, 4])
        XCTAssertEqual(y[2].storage, [8, 9, 10, 11, 20, 21, 22, 23])
        let x = try NIfTI.slices(v, axis: 2)
        XCTAssertEqual(x.count, 4)
        XCTAssertEqual(x[1].shape, [2, 3])
        XCTAssertEqual(x[1].storage, [1, 5, 9, 13, 17, 21])
        assertTensorError("NIfTI.slices: axis must be 0, 1 or 2") { _ = try NIfTI.slices(v, axis: 3) }
        assertTensorError("NIfTI.slices: expected a volume of rank 3", ["got size 4"]) {
            _ = try NIfTI.slices(Tensor.zeros([4]), axis: 0)
        }
    }

    func testWindowMapsHounsfieldUnitsToUnitRange() throws {
        let hu = try Tensor(shape: [6], storage: [-2000, -1350, -600, 150, 1000, .nan])
        let lung = try hu.window(center: -600, width: 1500)
        XCTAssertEqual(lung.shape, [6])
        XCTAssertEqual(Array(lung.storage[0 ..< 5]), [0, 0, 0.5, 1, 1])
        XCTAssertTrue(lung.storage[5].isNaN)
        let soft = try Tensor(shape: [2], storage: [40, 140]).window(center: 40, width: 400)
        XCTAssertEqual(soft.storage, [0.5, 0.75])
        assertTensorError("window: width must be a positive number, got 0.0") { _ = try hu.window(center: 0, width: 0) }
        assertTensorError("window: center must be a finite number") { _ = try hu.window(center: .nan, width: 1) }
    }
}
