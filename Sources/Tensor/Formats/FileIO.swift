#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Whole-file reads and atomic writes shared by the file formats. Every message starts with the
// format's name (`npy`, `png`, ...) and names the file, as the format readers' own messages do.

func errnoMessage(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}

/// The whole file in one read, with a clear message when it cannot be read. `format` starts the
/// error messages (`"npy"` gives `npy: cannot open 'x.npy' (No such file or directory)`).
func readWholeFile(_ path: String, format: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
        throw TensorError("\(format): cannot open '\(path)' (\(errnoMessage(errno)))")
    }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else {
        throw TensorError("\(format): cannot read '\(path)' (\(errnoMessage(errno)))")
    }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
        let what = (info.st_mode & S_IFMT) == S_IFDIR ? "it is a directory" : "not a regular file"
        throw TensorError("\(format): cannot read '\(path)' (\(what))")
    }
    let size = Int(info.st_size)
    var failure: Int32 = 0
    let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
        guard let base = buffer.baseAddress else { return }
        while initialized < size {
            let got = read(fd, base + initialized, size - initialized)
            if got > 0 {
                initialized += got
            } else if got == 0 {
                break  // the file shrank while we read it: what we have is the file
            } else if errno != EINTR {
                failure = errno
                break
            }
        }
    }
    guard failure == 0 else {
        throw TensorError("\(format): cannot read '\(path)' (\(errnoMessage(failure)))")
    }
    return bytes
}

/// Writes a temporary file beside `path` (`path.tmp-<pid>-<random>`), flushes it to disk, then
/// renames it over `path`; on any failure the temporary file is removed and `path` is left as
/// it was.
public func writeAtomically(_ bytes: [UInt8], to path: String, format: String) throws {
    let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0 ... UInt32.max))"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
        throw TensorError("\(format): cannot write '\(path)' (\(errnoMessage(errno)) creating '\(temporary)')")
    }
    var failure: Int32 = 0
    bytes.withUnsafeBytes { buffer in
        guard let base = buffer.baseAddress else { return }
        var written = 0
        while written < buffer.count {
            let n = write(fd, base + written, buffer.count - written)
            if n >= 0 {
                written += n
            } else if errno != EINTR {
                failure = errno
                return
            }
        }
    }
    if failure == 0, fsync(fd) != 0 { failure = errno }
    if close(fd) != 0, failure == 0 { failure = errno }
    if failure == 0, rename(temporary, path) != 0 { failure = errno }
    guard failure == 0 else {
        unlink(temporary)
        throw TensorError("\(format): cannot write '\(path)' (\(errnoMessage(failure)))")
    }
}

/// Big- or little-endian reads at byte offsets the caller has checked.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let bigEndian: Bool

    @inline(__always) func u8(_ at: Int) -> UInt8 { bytes[at] }
    @inline(__always) func u16(_ at: Int) -> UInt16 {
        let v = bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)
        return bigEndian ? UInt16(bigEndian: v) : UInt16(littleEndian: v)
    }
    @inline(__always) func u32(_ at: Int) -> UInt32 {
        let v = bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)
        return bigEndian ? UInt32(bigEndian: v) : UInt32(littleEndian: v)
    }
    @inline(__always) func u64(_ at: Int) -> UInt64 {
        let v = bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)
        return bigEndian ? UInt64(bigEndian: v) : UInt64(littleEndian: v)
    }
    @inline(__always) func i16(_ at: Int) -> Int16 { Int16(bitPattern: u16(at)) }
    @inline(__always) func i32(_ at: Int) -> Int32 { Int32(bitPattern: u32(at)) }
    @inline(__always) func f32(_ at: Int) -> Float { Float(bitPattern: u32(at)) }
}

/// The element types that the array formats (NPY, IDX, NIfTI) store, and their conversion to
/// float32 (rounding to nearest where float32 is narrower).
enum StoredScalar: Equatable {
    case bool, u8, i8, u16, i16, f16, u32, i32, f32, u64, i64, f64

    var size: Int {
        switch self {
        case .bool, .u8, .i8: return 1
        case .u16, .i16, .f16: return 2
        case .u32, .i32, .f32: return 4
        case .u64, .i64, .f64: return 8
        }
    }

    /// `count` values from `raw` (which holds at least `count * size` bytes) as float32.
    func convert(_ raw: UnsafeRawBufferPointer, count: Int, bigEndian: Bool) -> [Float] {
        let r = ByteReader(bytes: raw, bigEndian: bigEndian)
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            switch self {
            case .bool: for k in 0 ..< count { out[k] = raw[k] != 0 ? 1 : 0 }
            case .u8: for k in 0 ..< count { out[k] = Float(raw[k]) }
            case .i8: for k in 0 ..< count { out[k] = Float(Int8(bitPattern: raw[k])) }
            case .u16: for k in 0 ..< count { out[k] = Float(r.u16(2 * k)) }
            case .i16: for k in 0 ..< count { out[k] = Float(r.i16(2 * k)) }
            case .f16: for k in 0 ..< count { out[k] = floatFromHalfBits(r.u16(2 * k)) }
            case .u32: for k in 0 ..< count { out[k] = Float(r.u32(4 * k)) }
            case .i32: for k in 0 ..< count { out[k] = Float(r.i32(4 * k)) }
            case .f32: for k in 0 ..< count { out[k] = r.f32(4 * k) }
            case .u64: for k in 0 ..< count { out[k] = Float(r.u64(8 * k)) }
            case .i64: for k in 0 ..< count { out[k] = Float(Int64(bitPattern: r.u64(8 * k))) }
            case .f64: for k in 0 ..< count { out[k] = Float(Double(bitPattern: r.u64(8 * k))) }
            }
            initialized = count
        }
    }

    /// `count` values from `raw` as float32 after `value * slope + intercept`, computed in double
    /// precision from the stored values and rounded once (as NiBabel and pydicom scale).
    func convert(_ raw: UnsafeRawBufferPointer, count: Int, bigEndian: Bool, slope: Double, intercept: Double) -> [Float] {
        if slope == 1 && intercept == 0 { return convert(raw, count: count, bigEndian: bigEndian) }
        let r = ByteReader(bytes: raw, bigEndian: bigEndian)
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            for k in 0 ..< count {
                let v: Double
                switch self {
                case .bool: v = raw[k] != 0 ? 1 : 0
                case .u8: v = Double(raw[k])
                case .i8: v = Double(Int8(bitPattern: raw[k]))
                case .u16: v = Double(r.u16(2 * k))
                case .i16: v = Double(r.i16(2 * k))
                case .f16: v = Double(floatFromHalfBits(r.u16(2 * k)))
                case .u32: v = Double(r.u32(4 * k))
                case .i32: v = Double(r.i32(4 * k))
                case .f32: v = Double(r.f32(4 * k))
                case .u64: v = Double(r.u64(8 * k))
                case .i64: v = Double(Int64(bitPattern: r.u64(8 * k)))
                case .f64: v = Double(bitPattern: r.u64(8 * k))
                }
                out[k] = Float(v * slope + intercept)
            }
            initialized = count
        }
    }
}

/// The product of `shape`, or nil when it overflows or passes `maxTensorElements`.
func elementCount(_ shape: [Int]) -> Int? {
    var n = 1
    for d in shape {
        guard d >= 0 else { return nil }
        let (m, overflow) = n.multipliedReportingOverflow(by: d)
        guard !overflow, m <= maxTensorElements else { return nil }
        n = m
    }
    return n
}

/// Two hexadecimal digits, for messages about bytes.
func hexByte(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
}

/// The first bytes of a file as text for "found ..." messages: printable ASCII as it is, the
/// rest as `\xNN`.
func describeBytes(_ bytes: UnsafeRawBufferPointer, limit: Int = 8) -> String {
    if bytes.isEmpty { return "nothing (empty)" }
    var out = ""
    for b in bytes.prefix(limit) {
        if b >= 0x20 && b < 0x7F && b != UInt8(ascii: "\\") && b != UInt8(ascii: "'") {
            out.unicodeScalars.append(Unicode.Scalar(b))
        } else {
            out += "\\x" + hexByte(b)
        }
    }
    return "'" + out + (bytes.count > limit ? "...'" : "'")
}
