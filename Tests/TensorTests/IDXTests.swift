import Foundation
import Tensor
import XCTest

/// An IDX image: magic with the type byte, big-endian dimensions, then `data`.
private func idx(_ type: UInt8, _ dims: [UInt32], _ data: [UInt8]) -> [UInt8] {
    [0, 0, type, UInt8(dims.count)] + ioBE(dims) + data
}

/// Where Debian's `dataset-fashion-mnist` package puts Fashion-MNIST.
private let fashionMNIST = "/usr/share/datasets/fashion-mnist"

final class IDXTests: XCTestCase {
    func testGzippedAndPlainFilesMadeByPython() throws {
        let images = try IDX.read(path: ioFixturePath("mini-images-idx3-ubyte.gz"))
        XCTAssertEqual(images.shape, [3, 4, 5])
        XCTAssertEqual(images.storage, (0 ..< 60).map { Float(($0 * 11) % 256) })
        let labels = try IDX.read(path: ioFixturePath("mini-labels-idx1-ubyte"))
        XCTAssertEqual(labels.shape, [3])
        XCTAssertEqual(labels.storage, [7, 0, 9])
        let f64 = try IDX.read(path: ioFixturePath("f64.idx.gz"))
        XCTAssertEqual(f64.shape, [2, 3])
        XCTAssertEqual(f64.storage, (0 ..< 6).map { Float($0) * 0.125 - 0.5 })
    }

    func testEveryTypeBigEndian() throws {
        let cases: [(UInt8, [UInt8], [Float])] = [
            (0x08, [0, 200, 255], [0, 200, 255]),
            (0x09, [0x80, 0xFF, 0x7F], [-128, -1, 127]),
            (0x0B, ioBE([Int16(-300), 2, 32767]), [-300, 2, 32767]),
            (0x0C, ioBE([Int32(-70000), 0, 16_777_217]), [-70000, 0, 16_777_216]),
            (0x0D, ioBE([Float(1.5), -0.25, .infinity].map(\.bitPattern)), [1.5, -0.25, .infinity]),
            (0x0E, ioBE([Double(1e-3), -2, 1e300].map(\.bitPattern)), [Float(1e-3), -2, .infinity]),
        ]
        for (type, data, expected) in cases {
            let bytes = idx(type, [3], data)
            for (name, file) in [("plain", bytes), ("gzipped", ioGzipStored(bytes))] {
                let t = try IDX.read(bytes: file, source: "t.idx")
                XCTAssertEqual(t.shape, [3], "type \(type) \(name)")
                XCTAssertEqual(t.storage, expected, "type \(type) \(name)")
            }
        }
        let scalar = try IDX.read(bytes: idx(0x08, [], [42]), source: "s.idx")
        XCTAssertEqual(scalar.shape, [])
        XCTAssertEqual(scalar.storage, [42])
        let empty = try IDX.read(bytes: idx(0x0D, [0, 28, 28], []), source: "e.idx")
        XCTAssertEqual(empty.shape, [0, 28, 28])
    }

    func testMultiMemberGzipAndZeroPadding() throws {
        let bytes = idx(0x08, [2, 3], [1, 2, 3, 4, 5, 6])
        let twoMembers = ioGzipStored(Array(bytes[0 ..< 7])) + ioGzipStored(Array(bytes[7...]))
        XCTAssertEqual(try IDX.read(bytes: twoMembers, source: "cat.gz").storage, [1, 2, 3, 4, 5, 6])
        let padded = ioGzipStored(bytes) + [0, 0, 0, 0]
        XCTAssertEqual(try IDX.read(bytes: padded, source: "pad.gz").storage, [1, 2, 3, 4, 5, 6])
    }

    func testMalformedFilesThrowNamingTheFile() throws {
        let good = idx(0x08, [2, 2], [1, 2, 3, 4])
        let gz = ioGzipStored(good)
        var badCRC = gz
        badCRC[badCRC.count - 6] ^= 1
        var badData = try ioFixtureBytes("mini-images-idx3-ubyte.gz")
        badData[60] ^= 0x55
        let cases: [([UInt8], [String])] = [
            ([], ["too short", "4-byte IDX magic"]),
            (Array("P5\n28 28".utf8), ["not an IDX file", "'P5\\x0a"]),
            (idx(0x0A, [2], [1, 2]), ["unknown IDX type byte 0x0a"]),
            (Array(good[0 ..< 9]), ["declares 2 dimensions", "12 bytes of header", "9 bytes"]),
            (Array(good[0 ..< 14]), ["2x2 unsigned byte values need 4 bytes", "has 2", "truncated"]),
            (good + [9], ["has 5: 1 bytes too many"]),
            (idx(0x0C, [65536, 65536, 65536], []), ["too large"]),
            (Array(gz[0 ..< gz.count - 8]), ["gzip data ends early", "truncated"]),
            (Array(gz[0 ..< 12]), ["gzip data ends early"]),
            (badCRC, ["gzip data is corrupt (zlib: incorrect data check)"]),
            (badData, ["gzip data", "corrupt"]),
            (gz + [1, 2, 3], ["followed by 3 bytes that are not gzip data"]),
            (ioGzipStored(idx(0x08, [60000, 28, 28], [1, 2, 3])), ["60000x28x28", "47040016 bytes", "compressed bytes can hold"]),
            (ioGzipStored(good + [0]), ["decompresses to more than the 16 bytes expected"]),
            ([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF], ["gzip data is corrupt"]),
        ]
        for (n, (bytes, fragments)) in cases.enumerated() {
            assertTensorError("idx: bad\(n): ", fragments) { _ = try IDX.read(bytes: bytes, source: "bad\(n)") }
        }
        assertTensorError("idx: cannot open 'no-such-idx1-ubyte'") { _ = try IDX.read(path: "no-such-idx1-ubyte") }
    }

    func testRandomCorruptionsNeverCrash() throws {
        let files = [
            try ioFixtureBytes("mini-images-idx3-ubyte.gz"),
            try ioFixtureBytes("mini-labels-idx1-ubyte"),
            idx(0x0B, [2, 3], ioBE([Int16(1), 2, 3, 4, 5, 6])),
            ioGzipStored(idx(0x0E, [2], ioBE([Double(1), 2].map(\.bitPattern)))),
        ]
        var thrown = 0
        for (n, valid) in files.enumerated() {
            // Every other round gzips the damaged file, so that damaged headers reach the gzip path.
            var round = 0
            let result = ioFuzz(valid, rounds: 250, seed: UInt64(500 + n), prefix: "idx: fuzz: ") {
                round += 1
                _ = try IDX.read(bytes: round % 2 == 0 ? ioGzipStored($0) : $0, source: "fuzz")
            }
            XCTAssertEqual(result.read + result.thrown, 250)
            thrown += result.thrown
        }
        XCTAssertGreaterThan(thrown, 500)
    }

    /// Debian's `dataset-fashion-mnist` package, when installed.
    func testFashionMNISTFromDebian() throws {
        let trainImages = "\(fashionMNIST)/train-images-idx3-ubyte.gz"
        guard FileManager.default.fileExists(atPath: trainImages) else {
            throw XCTSkip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
        }
        let images = try ArrayFile.read(path: trainImages)
        XCTAssertEqual(images.shape, [60000, 28, 28])
        XCTAssertEqual(images.storage.min(), 0)
        XCTAssertEqual(images.storage.max(), 255)
        let labels = try ArrayFile.read(path: "\(fashionMNIST)/train-labels-idx1-ubyte.gz")
        XCTAssertEqual(labels.shape, [60000])
        XCTAssertEqual(Set(labels.storage), Set((0 ..< 10).map(Float.init)))
        XCTAssertEqual(try IDX.read(path: "\(fashionMNIST)/t10k-images-idx3-ubyte.gz").shape, [10000, 28, 28])
        let testLabels = try IDX.read(path: "\(fashionMNIST)/t10k-labels-idx1-ubyte.gz")
        XCTAssertEqual(testLabels.shape, [10000])
        // Balanced: 1000 test images per class.
        XCTAssertEqual(testLabels.storage.filter { $0 == 3 }.count, 1000)
    }
}
