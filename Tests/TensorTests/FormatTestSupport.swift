import Foundation
import Tensor
import XCTest

// Helpers for the file-format tests (PNG, IDX, NPY, NPZ, NIfTI): the committed reference files of
// Tests/Data/io, a temporary folder, error assertions, a deterministic corruption loop, and
// builders for byte images (big/little-endian numbers, CRC-32, zlib and gzip with stored
// deflate blocks, PNG chunks) so that tests can make exactly the file they need.

/// `Tests/Data/io/<name>`: reference files made by `Tests/Data/io/make_fixtures.py`.
func ioFixturePath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Tests/TensorTests
        .deletingLastPathComponent()  // Tests
        .appendingPathComponent("Data/io/\(name)")
        .path
}

func ioFixtureBytes(_ name: String) throws -> [UInt8] {
    try [UInt8](Data(contentsOf: URL(fileURLWithPath: ioFixturePath(name))))
}

/// A fresh temporary folder, removed by `remove()`.
struct IOTempDirectory {
    let url: URL

    init(_ label: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let p = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    func contents() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).sorted()
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Asserts that `body` throws a `TensorError` whose message starts with `prefix` and contains
/// every one of `fragments`. With `IO_PRINT_ERRORS` set in the environment it prints each
/// message, to review them all at once.
func assertTensorError(_ prefix: String, _ fragments: [String] = [], file: StaticString = #filePath,
                       line: UInt = #line, _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected a TensorError starting with '\(prefix)', but nothing was thrown", file: file, line: line)
    } catch let error as TensorError {
        if ProcessInfo.processInfo.environment["IO_PRINT_ERRORS"] != nil { print("MSG:", error.message) }
        XCTAssertTrue(error.message.hasPrefix(prefix), "'\(error.message)' does not start with '\(prefix)'",
                      file: file, line: line)
        for fragment in fragments {
            XCTAssertTrue(error.message.contains(fragment), "'\(error.message)' does not mention '\(fragment)'",
                          file: file, line: line)
        }
    } catch {
        XCTFail("expected a TensorError, got \(error)", file: file, line: line)
    }
}

/// Random corruptions of a valid file (byte changes, truncations, inserted and removed runs):
/// each must either read or throw a TensorError starting with `prefix`; a crash fails the whole
/// test run. Returns how many were read and how many threw.
@discardableResult
func ioFuzz(_ valid: [UInt8], rounds: Int, seed: UInt64, prefix: String,
            focus: Range<Int>? = nil, file: StaticString = #filePath, line: UInt = #line,
            _ read: ([UInt8]) throws -> Void) -> (read: Int, thrown: Int) {
    var state = seed
    func next(_ bound: Int) -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return bound <= 1 ? 0 : Int((state >> 33) % UInt64(bound))
    }
    let interesting: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, 0x08, 0x10, 0x20, 0x78, 0x9C]
    var readCount = 0, thrown = 0
    for _ in 0 ..< rounds {
        var bytes = valid
        let region = focus ?? 0 ..< valid.count
        switch next(6) {
        case 0, 1, 2:
            for _ in 0 ... next(4) where !bytes.isEmpty {
                let at = next(3) == 0 ? next(bytes.count) : region.lowerBound + next(region.count)
                guard at < bytes.count else { continue }
                bytes[at] = next(2) == 0 ? interesting[next(interesting.count)] : UInt8(next(256))
            }
        case 3:
            bytes.removeLast(1 + next(bytes.count))
        case 4:
            let at = next(bytes.count + 1)
            bytes.insert(contentsOf: (0 ..< 1 + next(16)).map { _ in UInt8(next(256)) }, at: at)
        default:
            let at = next(bytes.count)
            bytes.removeSubrange(at ..< min(bytes.count, at + 1 + next(16)))
            if next(2) == 0, !bytes.isEmpty { bytes[next(bytes.count)] ^= UInt8(1 << next(8)) }
        }
        do {
            try read(bytes)
            readCount += 1
        } catch let error as TensorError {
            XCTAssertTrue(error.message.hasPrefix(prefix), "'\(error.message)' does not start with '\(prefix)'",
                          file: file, line: line)
            thrown += 1
        } catch {
            XCTFail("expected a TensorError, got \(error)", file: file, line: line)
        }
    }
    return (readCount, thrown)
}

// MARK: Byte builders

func ioBE<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.bigEndian) { Array($0) } }
}

func ioLE<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}

private let crcTable: [UInt32] = (0 ..< 256).map { n -> UInt32 in
    var c = UInt32(n)
    for _ in 0 ..< 8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}

func ioCRC32(_ bytes: [UInt8]) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
    return c ^ 0xFFFF_FFFF
}

/// Deflate stored (uncompressed) blocks of `data`.
func ioDeflateStored(_ data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    var at = 0
    repeat {
        let n = min(65535, data.count - at)
        let last: UInt8 = at + n == data.count ? 1 : 0
        out.append(last)
        out += ioLE([UInt16(n), ~UInt16(n)])
        out += data[at ..< at + n]
        at += n
    } while at < data.count
    return out
}

/// A zlib stream (RFC 1950) of stored blocks, as PNG's IDAT holds.
func ioZlibStored(_ data: [UInt8]) -> [UInt8] {
    var a: UInt32 = 1, b: UInt32 = 0
    for byte in data {
        a = (a + UInt32(byte)) % 65521
        b = (b + a) % 65521
    }
    return [0x78, 0x01] + ioDeflateStored(data) + ioBE([b << 16 | a])
}

/// A gzip file (RFC 1952) of stored blocks.
func ioGzipStored(_ data: [UInt8]) -> [UInt8] {
    [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF] + ioDeflateStored(data)
        + ioLE([ioCRC32(data), UInt32(truncatingIfNeeded: data.count)])
}

/// One PNG chunk: length, type, data, CRC.
func ioPNGChunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
    let typeBytes = Array(type.utf8)
    return ioBE([UInt32(data.count)]) + typeBytes + data + ioBE([ioCRC32(typeBytes + data)])
}

/// A PNG from rows of raw (already packed) scanline bytes, each given filter type 0.
func ioPNG(width: Int, height: Int, bitDepth: Int, colorType: Int, rows: [[UInt8]],
           before: [[UInt8]] = [], interlace: UInt8 = 0) -> [UInt8] {
    let ihdr = ioBE([UInt32(width), UInt32(height)]) + [UInt8(bitDepth), UInt8(colorType), 0, 0, interlace]
    var raw: [UInt8] = []
    for row in rows {
        raw.append(0)
        raw += row
    }
    var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    out += ioPNGChunk("IHDR", ihdr)
    for chunk in before { out += chunk }
    out += ioPNGChunk("IDAT", ioZlibStored(raw))
    out += ioPNGChunk("IEND", [])
    return out
}

/// Packs samples of `bits` bits (1, 2, 4) into bytes, most significant first, as PNG rows are.
func ioPackBits(_ samples: [Int], bits: Int) -> [UInt8] {
    var out: [UInt8] = []
    var current = 0, used = 0
    for s in samples {
        current = current << bits | s
        used += bits
        if used == 8 {
            out.append(UInt8(current))
            current = 0
            used = 0
        }
    }
    if used > 0 { out.append(UInt8(current << (8 - used))) }
    return out
}

/// The PNG with every chunk's CRC recomputed, so that corrupted chunk contents reach the decoder
/// instead of stopping at the CRC check. Bytes that do not walk as chunks are left as they are.
func ioFixPNGCRCs(_ png: [UInt8]) -> [UInt8] {
    var out = png
    var at = 8
    while out.count - at >= 12 {
        let length = Int(out[at]) << 24 | Int(out[at + 1]) << 16 | Int(out[at + 2]) << 8 | Int(out[at + 3])
        guard length <= out.count - at - 12 else { break }
        let crc = ioCRC32(Array(out[at + 4 ..< at + 8 + length]))
        out.replaceSubrange(at + 8 + length ..< at + 12 + length, with: ioBE([crc]))
        at += 12 + length
    }
    return out
}
