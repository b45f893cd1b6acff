import CZlib

/// Decompression in memory through zlib: gzip files (RFC 1952, every member of a multi-member
/// file) and the raw deflate streams (RFC 1951) of zip entries.
///
/// Nothing here trusts the compressed data: the output is bounded by a limit the caller gives
/// (derived from a header it has checked, or `maxOutput`), a truncated or corrupt stream is a
/// thrown error, and gzip's CRC-32 and length trailer are checked by zlib.
enum Inflate {
    /// Deflate cannot expand data by more than about 1032:1; anything claiming more is corrupt.
    static let maxRatio = 1040
    /// No file of ours decompresses to more than this.
    static let maxOutput = 1 << 32

    enum Container {
        case gzip
        /// A bare deflate stream, as a zip entry holds it.
        case raw
    }

    /// Whether the bytes start with the gzip magic `1f 8b`.
    static func isGzip(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
    }

    /// The most that `compressed` bytes of deflate data can decompress to, capped at `maxOutput`.
    static func plausibleSize(compressed: Int) -> Int {
        let (n, overflow) = compressed.multipliedReportingOverflow(by: maxRatio)
        return overflow ? maxOutput : min(maxOutput, n + 65536)
    }

    /// The whole decompressed stream; more than `limit` bytes is an error (`fail` makes it).
    static func decompress(_ input: UnsafeRawBufferPointer, container: Container, limit: Int,
                           fail: (String) -> TensorError) throws -> [UInt8] {
        try run(input, container: container, limit: limit, prefixOnly: false, fail: fail)
    }

    /// The first `count` decompressed bytes, or all of them when the stream is shorter; the
    /// rest of the stream is not decoded (nor checked).
    static func prefix(_ input: UnsafeRawBufferPointer, container: Container, count: Int,
                       fail: (String) -> TensorError) throws -> [UInt8] {
        try run(input, container: container, limit: count, prefixOnly: true, fail: fail)
    }

    /// CRC-32 (the zip and gzip checksum) of `bytes`.
    static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CZlib.crc32(0, nil, 0)
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: Bytef.self) else { return UInt32(crc) }
        var offset = 0
        while offset < bytes.count {
            let n = min(bytes.count - offset, 1 << 30)
            crc = CZlib.crc32(crc, base + offset, uInt(n))
            offset += n
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    private static func run(_ input: UnsafeRawBufferPointer, container: Container, limit requested: Int, prefixOnly: Bool,
                            fail: (String) -> TensorError) throws -> [UInt8] {
        let what = container == .gzip ? "gzip data" : "deflate data"
        // A stream that inflates past the memory budget is refused as it grows, not allocated.
        let limit = min(requested, MemoryBudget.bytes)
        guard let inputBase = input.baseAddress, !input.isEmpty else {
            throw fail("\(what) is empty")
        }
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deallocate() }
        let windowBits: Int32 = container == .gzip ? 15 + 16 : -15
        let started = inflateInit2_(stream, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard started == Z_OK else {
            throw fail("cannot start zlib decompression (zlib error \(started))")
        }
        defer { inflateEnd(stream) }

        let chunkSize = 1 << 18
        let scratch = UnsafeMutablePointer<Bytef>.allocate(capacity: chunkSize)
        defer { scratch.deallocate() }

        var out: [UInt8] = []
        // The gzip trailer's length (mod 2^32) is a good guess for whole files; never trusted
        // beyond what the input can plausibly hold.
        var guess = min(limit, plausibleSize(compressed: input.count), 1 << 26)
        if container == .gzip, input.count >= 18 {
            let isize = Int(UInt32(littleEndian: input.loadUnaligned(fromByteOffset: input.count - 4, as: UInt32.self)))
            guess = min(guess, isize + 1)
        }
        out.reserveCapacity(max(0, guess))

        let inputBytes = inputBase.assumingMemoryBound(to: Bytef.self)
        var consumed = 0  // input bytes handed to zlib so far (beyond avail_in)
        func feed() {
            guard stream.pointee.avail_in == 0, consumed < input.count else { return }
            let n = min(input.count - consumed, 1 << 30)
            stream.pointee.next_in = UnsafeMutablePointer(mutating: inputBytes + consumed)
            stream.pointee.avail_in = uInt(n)
            consumed += n
        }
        func remainingInput() -> Int { Int(stream.pointee.avail_in) + input.count - consumed }

        while true {
            feed()
            stream.pointee.next_out = scratch
            stream.pointee.avail_out = uInt(chunkSize)
            let inputBefore = remainingInput()
            let rc = inflate(stream, Z_NO_FLUSH)
            let produced = chunkSize - Int(stream.pointee.avail_out)
            if produced > 0 {
                if out.count + produced > limit {
                    if prefixOnly {
                        out.append(contentsOf: UnsafeBufferPointer(start: scratch, count: limit - out.count))
                        return out
                    }
                    throw fail("\(what) decompresses to more than \(limit < requested ? budgetReason() : limitReason(limit))")
                }
                out.append(contentsOf: UnsafeBufferPointer(start: scratch, count: produced))
            }
            switch rc {
            case Z_STREAM_END:
                guard container == .gzip else { return out }
                // Another gzip member may follow (`cat a.gz b.gz`); zeros padding is tolerated.
                let rest = remainingInput()
                if rest == 0 { return out }
                let restStart = input.count - rest
                if rest >= 2, input[restStart] == 0x1F, input[restStart + 1] == 0x8B {
                    guard inflateReset(stream) == Z_OK else { throw fail("cannot restart zlib decompression") }
                    continue
                }
                if input[restStart...].allSatisfy({ $0 == 0 }) { return out }
                throw fail("\(what) is followed by \(rest) bytes that are not gzip data (corrupt file?)")
            case Z_OK, Z_BUF_ERROR:
                // zlib wants more input, and there is none: the stream stops early.
                if stream.pointee.avail_in == 0, consumed == input.count, produced < chunkSize {
                    if prefixOnly { return out }
                    throw fail("\(what) ends early, after \(out.count) decompressed bytes (truncated file?)")
                }
                // Never loop without progress, whatever zlib says.
                if produced == 0, remainingInput() == inputBefore {
                    throw fail("\(what) cannot be decompressed (zlib made no progress, error \(rc))")
                }
            case Z_DATA_ERROR:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "invalid data"
                if prefixOnly && message == "incorrect data check" { return out }
                throw fail("\(what) is corrupt (zlib: \(message)) after \(out.count) decompressed bytes")
            case Z_NEED_DICT:
                throw fail("\(what) needs a preset dictionary, which no file format here uses (corrupt file?)")
            case Z_MEM_ERROR:
                throw fail("out of memory decompressing \(what)")
            default:
                throw fail("\(what) cannot be decompressed (zlib error \(rc))")
            }
        }
    }

    private static func budgetReason() -> String {
        "the memory budget of \(MemoryBudget.describe(MemoryBudget.bytes)) (SMIA_MAX_BYTES sets it)"
    }

    private static func limitReason(_ limit: Int) -> String {
        limit >= maxOutput ? "the \(maxOutput >> 30) GiB limit" : "the \(limit) bytes expected (corrupt file?)"
    }
}
