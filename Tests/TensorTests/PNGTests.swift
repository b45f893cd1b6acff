import Foundation
import Tensor
import XCTest

final class PNGTests: XCTestCase {
    private var dir: IOTempDirectory!

    override func setUpWithError() throws { dir = try IOTempDirectory("PNGTests") }
    override func tearDown() { dir.remove() }

    private let gamma100k = ioPNGChunk("gAMA", ioBE([UInt32(100_000)]))  // linear: libpng would convert
    private let gamma45k = ioPNGChunk("gAMA", ioBE([UInt32(45_455)]))
    private let srgb = ioPNGChunk("sRGB", [0])

    // MARK: Round trips

    func testGrayRoundTrip8Bit() throws {
        let values = (0 ..< 12).map { Float($0 * 20) / 255 }
        let file = dir.path("gray.png")
        try PNGImage.write(path: file, tensor: try Tensor(shape: [3, 4], storage: values))
        XCTAssertEqual(dir.contents(), ["gray.png"])  // no temporary file left behind
        let back = try PNGImage.read(path: file)
        XCTAssertEqual(back.shape, [1, 3, 4])
        XCTAssertEqual(back.storage, values)

        try PNGImage.write(path: file, tensor: try Tensor(shape: [1, 3, 4], storage: values.reversed()))
        XCTAssertEqual(try PNGImage.read(path: file).storage, values.reversed())
    }

    func testRGBRoundTrip8Bit() throws {
        let values: [Float] = (0 ..< 30).map { k in Float((k * 37) % 256) / 255 }
        let file = dir.path("rgb.png")
        try PNGImage.write(path: file, tensor: try Tensor(shape: [3, 5, 2], storage: values))
        let back = try PNGImage.read(path: file)
        XCTAssertEqual(back.shape, [3, 5, 2])
        XCTAssertEqual(back.storage, values)
        // A batch of one is written as its image.
        try PNGImage.write(path: file, tensor: try Tensor(shape: [1, 3, 5, 2], storage: values))
        XCTAssertEqual(try PNGImage.read(path: file).storage, values)
    }

    func testWriteClampsAndRounds() throws {
        let bytes = try PNGImage.encode(try Tensor(shape: [1, 1, 5], storage: [-3, 2, 0.5, 0.999, .infinity]))
        let back = try PNGImage.read(bytes: bytes, source: "clamped.png")
        XCTAssertEqual(back.storage, [0, 1, 128 / 255, 1, 1])
    }

    func testLabelsRoundTrip() throws {
        let labels = (0 ..< 24).map { Float(($0 * 11) % 256) }
        let file = dir.path("mask.png")
        try PNGImage.writeLabels(path: file, labels: try Tensor(shape: [4, 6], storage: labels))
        let back = try PNGImage.readLabels(path: file)
        XCTAssertEqual(back.shape, [4, 6])
        XCTAssertEqual(back.storage, labels)
        try PNGImage.writeLabels(path: file, labels: try Tensor(shape: [1, 4, 6], storage: labels))
        XCTAssertEqual(try PNGImage.readLabels(path: file).storage, labels)
        // The same file as an image.
        XCTAssertEqual(try PNGImage.read(path: file).storage, labels.map { $0 / 255 })
    }

    // MARK: Files made byte by byte

    func testEvery8BitGrayLevelExactEvenWithGammaChunks() throws {
        let rows = (0 ..< 16).map { r in (0 ..< 16).map { UInt8(r * 16 + $0) } }
        for before in [[], [gamma100k], [gamma45k], [srgb, gamma45k]] {
            let png = ioPNG(width: 16, height: 16, bitDepth: 8, colorType: 0, rows: rows, before: before)
            let image = try PNGImage.read(bytes: png, source: "levels.png")
            XCTAssertEqual(image.shape, [1, 16, 16])
            XCTAssertEqual(image.storage, (0 ..< 256).map { Float($0) / 255 })
            XCTAssertEqual(try PNGImage.readLabels(bytes: png, source: "levels.png").storage, (0 ..< 256).map(Float.init))
        }
    }

    func testEvery16BitGrayLevelExact() throws {
        let rows = (0 ..< 256).map { r in ioBE((0 ..< 256).map { UInt16(r * 256 + $0) }) }
        for before in [[], [gamma100k], [gamma45k], [srgb]] {
            let png = ioPNG(width: 256, height: 256, bitDepth: 16, colorType: 0, rows: rows, before: before)
            let labels = try PNGImage.readLabels(bytes: png, source: "levels16.png")
            XCTAssertEqual(labels.shape, [256, 256])
            XCTAssertEqual(labels.storage, (0 ..< 65536).map(Float.init))
            let image = try PNGImage.read(bytes: png, source: "levels16.png")
            XCTAssertEqual(image.shape, [1, 256, 256])
            XCTAssertEqual(image.storage[65535], 1)
            XCTAssertEqual(image.storage[12345], 12345 / 65535)
        }
    }

    func test16BitRGB() throws {
        let pixels: [[UInt16]] = [[0, 1, 65535], [30000, 40000, 50000]]
        let png = ioPNG(width: 2, height: 1, bitDepth: 16, colorType: 2, rows: [ioBE(pixels.flatMap { $0 })],
                        before: [gamma45k])
        let image = try PNGImage.read(bytes: png, source: "rgb16.png")
        XCTAssertEqual(image.shape, [3, 1, 2])
        let expected: [Float] = [0, 30000, 1, 40000, 65535, 50000].map { $0 / 65535 }
        XCTAssertEqual(image.storage, expected)
    }

    func test16BitRGBAOpaqueIsExactAndAlphaIsDropped() throws {
        let row: [UInt16] = [1000, 2000, 3000, 65535, 65535, 0, 12345, 65535]
        let png = ioPNG(width: 2, height: 1, bitDepth: 16, colorType: 6, rows: [ioBE(row)])
        let image = try PNGImage.read(bytes: png, source: "rgba16.png")
        XCTAssertEqual(image.shape, [3, 1, 2])
        XCTAssertEqual(image.storage, [1000, 65535, 2000, 0, 3000, 12345].map { Float($0) / 65535 })

        // Half transparent: libpng premultiplies, we divide back out (close, not exact).
        let half: [UInt16] = [40000, 20000, 10000, 32768]
        let image2 = try PNGImage.read(bytes: ioPNG(width: 1, height: 1, bitDepth: 16, colorType: 6, rows: [ioBE(half)]),
                                       source: "half.png")
        for (got, want) in zip(image2.storage, [40000, 20000, 10000] as [Float]) {
            XCTAssertEqual(got * 65535, want, accuracy: 3)
        }
    }

    func test16BitGrayAlphaLabelsWithTransparencyAreRefused() {
        let png = ioPNG(width: 2, height: 1, bitDepth: 16, colorType: 4, rows: [ioBE([UInt16(7), 65535, 9, 100])])
        assertTensorError("png: ga16.png: labels: ", ["transparent pixels", "row 0, column 1"]) {
            _ = try PNGImage.readLabels(bytes: png, source: "ga16.png")
        }
        let opaque = ioPNG(width: 2, height: 1, bitDepth: 16, colorType: 4, rows: [ioBE([UInt16(7), 65535, 9, 65535])])
        XCTAssertEqual(try PNGImage.readLabels(bytes: opaque, source: "ga16.png").storage, [7, 9])
    }

    func testGrayAlphaAndRGBA8BitDropAlpha() throws {
        let ga = ioPNG(width: 3, height: 1, bitDepth: 8, colorType: 4, rows: [[10, 255, 20, 0, 30, 128]])
        let g = try PNGImage.read(bytes: ga, source: "ga.png")
        XCTAssertEqual(g.shape, [1, 1, 3])
        XCTAssertEqual(g.storage, [10, 20, 30].map { Float($0) / 255 })
        XCTAssertEqual(try PNGImage.readLabels(bytes: ga, source: "ga.png").storage, [10, 20, 30])

        let rgba = ioPNG(width: 2, height: 1, bitDepth: 8, colorType: 6, rows: [[1, 2, 3, 0, 4, 5, 6, 77]])
        let c = try PNGImage.read(bytes: rgba, source: "rgba.png")
        XCTAssertEqual(c.shape, [3, 1, 2])
        XCTAssertEqual(c.storage, [1, 4, 2, 5, 3, 6].map { Float($0) / 255 })
    }

    func testGrayWithTransparentColorKey() throws {
        let trns = ioPNGChunk("tRNS", ioBE([UInt16(50)]))
        let png = ioPNG(width: 3, height: 1, bitDepth: 8, colorType: 0, rows: [[50, 60, 70]], before: [trns])
        XCTAssertEqual(try PNGImage.read(bytes: png, source: "key.png").storage, [50, 60, 70].map { Float($0) / 255 })
        XCTAssertEqual(try PNGImage.readLabels(bytes: png, source: "key.png").storage, [50, 60, 70])
    }

    func testLowBitDepthGray() throws {
        for bits in [1, 2, 4] {
            let maxValue = (1 << bits) - 1
            let samples = (0 ..< 10).map { $0 % (maxValue + 1) }
            let png = ioPNG(width: 10, height: 1, bitDepth: bits, colorType: 0, rows: [ioPackBits(samples, bits: bits)])
            let labels = try PNGImage.readLabels(bytes: png, source: "gray\(bits).png")
            XCTAssertEqual(labels.storage, samples.map(Float.init), "\(bits)-bit")
            let image = try PNGImage.read(bytes: png, source: "gray\(bits).png")
            XCTAssertEqual(image.storage, samples.map { Float($0) / Float(maxValue) }, "\(bits)-bit")
        }
    }

    func testPaletteImagesGiveColorsAndIndices() throws {
        let palette: [[UInt8]] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30], [200, 100, 50]]
        for bits in [8, 4, 2, 1] {
            let count = min(palette.count, 1 << bits)
            let plte = ioPNGChunk("PLTE", palette[0 ..< count].flatMap { $0 })
            let indices = (0 ..< 6).map { ($0 * 3 + 1) % count }
            let rows = bits == 8
                ? [indices[0 ..< 3].map(UInt8.init), indices[3...].map(UInt8.init)]
                : [ioPackBits(Array(indices[0 ..< 3]), bits: bits), ioPackBits(Array(indices[3...]), bits: bits)]
            let fixed = ioPNG(width: 3, height: 2, bitDepth: bits, colorType: 3, rows: rows, before: [plte])
            let labels = try PNGImage.readLabels(bytes: fixed, source: "p\(bits).png")
            XCTAssertEqual(labels.shape, [2, 3])
            XCTAssertEqual(labels.storage, indices.map(Float.init), "\(bits)-bit palette indices")
            let image = try PNGImage.read(bytes: fixed, source: "p\(bits).png")
            XCTAssertEqual(image.shape, [3, 2, 3])
            for (p, index) in indices.enumerated() {
                for c in 0 ..< 3 {
                    XCTAssertEqual(image.storage[c * 6 + p], Float(palette[index][c]) / 255, "\(bits)-bit pixel \(p)")
                }
            }
        }
    }

    func testPaletteWithTransparencyKeepsIndicesAndColors() throws {
        let plte = ioPNGChunk("PLTE", [9, 8, 7, 100, 110, 120, 1, 2, 3])
        let trns = ioPNGChunk("tRNS", [0, 128])
        let png = ioPNG(width: 3, height: 1, bitDepth: 8, colorType: 3, rows: [[2, 1, 0]], before: [plte, trns])
        XCTAssertEqual(try PNGImage.readLabels(bytes: png, source: "pt.png").storage, [2, 1, 0])
        let image = try PNGImage.read(bytes: png, source: "pt.png")
        XCTAssertEqual(image.storage, [1, 100, 9, 2, 110, 8, 3, 120, 7].map { Float($0) / 255 })
    }

    func testRGBMasksGiveLabelsOnlyWhenGray() throws {
        let gray = ioPNG(width: 2, height: 1, bitDepth: 8, colorType: 2, rows: [[3, 3, 3, 0, 0, 0]])
        XCTAssertEqual(try PNGImage.readLabels(bytes: gray, source: "g.png").storage, [3, 0])
        let colored = ioPNG(width: 2, height: 1, bitDepth: 8, colorType: 2, rows: [[3, 3, 3, 0, 1, 0]])
        assertTensorError("png: c.png: labels: ", ["must be gray", "row 0, column 1", "(0, 1, 0)"]) {
            _ = try PNGImage.readLabels(bytes: colored, source: "c.png")
        }
    }

    /// Interlaced (Adam7) files: the seven passes of reduced images, each row with its filter byte.
    func testInterlacedImages() throws {
        func adam7(_ pixel: (Int, Int) -> [UInt8], width: Int, height: Int) -> [UInt8] {
            let passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
            var raw: [UInt8] = []
            for (x0, y0, dx, dy) in passes where x0 < width && y0 < height {
                for y in stride(from: y0, to: height, by: dy) {
                    raw.append(0)
                    for x in stride(from: x0, to: width, by: dx) { raw += pixel(x, y) }
                }
            }
            return raw
        }
        for (colorType, channels) in [(0, 1), (2, 3)] {
            let (width, height) = (7, 5)
            let value = { (x: Int, y: Int, c: Int) in UInt8((x * 31 + y * 17 + c * 50) % 256) }
            let raw = adam7({ x, y in (0 ..< channels).map { value(x, y, $0) } }, width: width, height: height)
            let ihdr = ioBE([UInt32(width), UInt32(height)]) + [8, UInt8(colorType), 0, 0, 1]
            let png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + ioPNGChunk("IHDR", ihdr)
                + ioPNGChunk("IDAT", ioZlibStored(raw)) + ioPNGChunk("IEND", [])
            let image = try PNGImage.read(bytes: png, source: "adam7.png")
            XCTAssertEqual(image.shape, [channels, height, width])
            var expected: [Float] = []
            for c in 0 ..< channels {
                for y in 0 ..< height {
                    for x in 0 ..< width { expected.append(Float(value(x, y, c)) / 255) }
                }
            }
            XCTAssertEqual(image.storage, expected, "color type \(colorType)")
        }
    }

    // MARK: Writing errors

    func testWriteRejectsBadTensorsAndLeavesNoFile() throws {
        let cases: [(Tensor, String)] = [
            (try Tensor(shape: [2, 3, 3], storage: Array(repeating: 0, count: 18)), "got size 2x3x3"),
            (try Tensor(shape: [4], storage: [0, 0, 0, 0]), "got size 4"),
            (try Tensor(shape: [0, 3], storage: []), "empty image"),
            (try Tensor(shape: [1, 2], storage: [0, .nan]), "NaN at channel 0, row 0, column 1"),
        ]
        for (tensor, fragment) in cases {
            let file = dir.path("bad.png")
            assertTensorError("png: \(file): ", [fragment]) { try PNGImage.write(path: file, tensor: tensor) }
        }
        let labelCases: [(Tensor, String)] = [
            (try Tensor(shape: [1, 2], storage: [0, 256]), "got 256.0 at row 0, column 1"),
            (try Tensor(shape: [1, 2], storage: [-1, 0]), "got -1.0"),
            (try Tensor(shape: [2, 1], storage: [0, 1.5]), "got 1.5 at row 1, column 0"),
            (try Tensor(shape: [1, 1], storage: [.nan]), "integers in 0...255"),
            (try Tensor(shape: [3, 2, 2], storage: Array(repeating: 0, count: 12)), "labels of size H×W or 1×H×W"),
        ]
        for (tensor, fragment) in labelCases {
            let file = dir.path("bad.png")
            assertTensorError("png: \(file): ", [fragment]) { try PNGImage.writeLabels(path: file, labels: tensor) }
        }
        XCTAssertEqual(dir.contents(), [])
    }

    func testWriteIntoMissingFolderAndReadMissingFile() throws {
        let file = dir.path("no/such/folder/x.png")
        assertTensorError("png: cannot write '\(file)'", ["No such file or directory"]) {
            try PNGImage.write(path: file, tensor: try Tensor.zeros([2, 2]))
        }
        assertTensorError("png: cannot open '\(file)'", ["No such file or directory"]) {
            _ = try PNGImage.read(path: file)
        }
        assertTensorError("png: cannot read '\(dir.url.path)'", ["directory"]) {
            _ = try PNGImage.readLabels(path: dir.url.path)
        }
    }

    func testWriteReplacesExistingFile() throws {
        let file = dir.path("x.png")
        try PNGImage.write(path: file, tensor: try Tensor.zeros([2, 2]))
        try PNGImage.write(path: file, tensor: try Tensor.ones([3, 1, 1]))
        XCTAssertEqual(try PNGImage.read(path: file).storage, [1, 1, 1])
        XCTAssertEqual(dir.contents(), ["x.png"])
    }

    // MARK: Malformed files

    func testMalformedFilesThrowNamingTheFile() throws {
        let good = ioPNG(width: 4, height: 2, bitDepth: 8, colorType: 0, rows: [[1, 2, 3, 4], [5, 6, 7, 8]])
        XCTAssertNoThrow(try PNGImage.read(bytes: good, source: "good.png"))

        assertTensorError("png: a.png: ", ["not a PNG file", "'GIF89a"]) {
            _ = try PNGImage.read(bytes: Array("GIF89a....".utf8), source: "a.png")
        }
        assertTensorError("png: b.png: ", ["not a PNG file", "nothing (empty)"]) {
            _ = try PNGImage.read(bytes: [], source: "b.png")
        }
        assertTensorError("png: c.png: ", ["too short"]) {
            _ = try PNGImage.read(bytes: Array(good[0 ..< 20]), source: "c.png")
        }
        // IHDR not first.
        var swapped = good
        swapped.replaceSubrange(12 ..< 16, with: Array("IHDX".utf8))
        assertTensorError("png: d.png: ", ["first chunk must be a 13-byte IHDR", "'IHDX'"]) {
            _ = try PNGImage.read(bytes: swapped, source: "d.png")
        }
        // A bad IHDR CRC: libpng's own message.
        var badCRC = good
        badCRC[29] ^= 0xFF
        assertTensorError("png: e.png: ", ["libpng: ", "CRC"]) { _ = try PNGImage.read(bytes: badCRC, source: "e.png") }
        // Truncated in the image data.
        let idatEnd = good.count - 12
        assertTensorError("png: f.png: labels: ", ["libpng: "]) {
            _ = try PNGImage.readLabels(bytes: Array(good[0 ..< idatEnd - 6]), source: "f.png")
        }
        // A header that claims a huge image over a few bytes of data: refused before allocating.
        let huge = ioPNG(width: 1_000_000, height: 200, bitDepth: 8, colorType: 2, rows: [[1, 2, 3]])
        assertTensorError("png: g.png: ", ["1000000x200 pixels", "compressed image data"]) {
            _ = try PNGImage.read(bytes: huge, source: "g.png")
        }
        let tooMany = ioPNG(width: 100_000, height: 100_000, bitDepth: 1, colorType: 0, rows: [[0]])
        assertTensorError("png: h.png: ", ["pixel limit"]) { _ = try PNGImage.read(bytes: tooMany, source: "h.png") }
        // Invalid bit depth for the color type.
        let badDepth = ioPNG(width: 1, height: 1, bitDepth: 4, colorType: 2, rows: [[0, 0]])
        assertTensorError("png: i.png: ", ["libpng: "]) { _ = try PNGImage.read(bytes: badDepth, source: "i.png") }
        // Corrupt compressed data.
        var badZlib = good
        badZlib[41] = 0xFF  // the first byte after the zlib header: an invalid block type
        assertTensorError("png: j.png: ", ["libpng: "]) { _ = try PNGImage.read(bytes: badZlib, source: "j.png") }
    }

    func testRandomCorruptionsNeverCrash() throws {
        let rgb = try PNGImage.encode(try Tensor(shape: [3, 6, 5], storage: (0 ..< 90).map { Float(($0 * 7) % 11) / 10 }))
        let plte = ioPNGChunk("PLTE", [9, 8, 7, 100, 110, 120, 1, 2, 3, 4, 5, 6])
        let palette = ioPNG(width: 5, height: 3, bitDepth: 2, colorType: 3,
                            rows: [ioPackBits([0, 1, 2, 3, 0], bits: 2), ioPackBits([1, 1, 1, 1, 1], bits: 2),
                                   ioPackBits([3, 2, 1, 0, 3], bits: 2)], before: [plte, gamma45k])
        let gray16 = ioPNG(width: 3, height: 2, bitDepth: 16, colorType: 4,
                           rows: [ioBE([UInt16(1), 65535, 2, 65535, 3, 65535]), ioBE([UInt16(4), 65535, 5, 0, 6, 9])])
        var total = (read: 0, thrown: 0)
        for (n, valid) in [rgb, palette, gray16].enumerated() {
            for labels in [false, true] {
                // Half the rounds with the chunk CRCs recomputed, so that damage reaches the decoder.
                let seed = UInt64(17 + n * 2 + (labels ? 1 : 0))
                let result = ioFuzz(valid, rounds: 250, seed: seed, prefix: "png: fuzz.png: ") { bytes in
                    let file = bytes.count % 2 == 0 ? ioFixPNGCRCs(bytes) : bytes
                    if labels {
                        _ = try PNGImage.readLabels(bytes: file, source: "fuzz.png")
                    } else {
                        _ = try PNGImage.read(bytes: file, source: "fuzz.png")
                    }
                }
                total.read += result.read
                total.thrown += result.thrown
            }
        }
        XCTAssertEqual(total.read + total.thrown, 1500)
        XCTAssertGreaterThan(total.thrown, 500)
    }
}
