#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CZlib

/// One array of an `.npz` file read a block of rows (first-dimension slices) at a time, never
/// whole, so that a data set larger than memory can be used: the member's `.npy` header gives
/// the shape and type; a stored member's rows are read at their offset in the file, a deflated
/// member's are inflated as a stream from where the previous read ended (from the start again
/// only for earlier rows). `scan` passes over the whole array once in blocks and checks the
/// member's CRC-32. An array in Fortran order is read whole (its rows are not contiguous).
public final class NPZRows {
    /// The array's name (the member's without `.npy`) and full shape.
    public let name: String
    public let shape: [Int]
    private let path: String
    private let file: OpenFile
    private let entry: ZipArchive.Entry
    private let description: ArrayDescription
    private let dataStart: Int
    /// Values per row: the product of the dimensions after the first.
    private let rowValues: Int
    private let inflater: MemberInflater?
    private var whole: [Float]?
    private let fail: (String) -> TensorError

    /// The names of an `.npz` file's arrays, in the archive's order.
    public static func names(path: String) throws -> [String] {
        try openArchive(path).1.map { arrayName($0.name) }
    }

    /// Array `member` of the `.npz` at `path` (a missing one is an error listing those there).
    public init(path: String, member: String) throws {
        let (file, entries) = try NPZRows.openArchive(path)
        let fd = file.fd
        guard let entry = entries.first(where: { NPZRows.arrayName($0.name) == member }) else {
            throw TensorError("npz: '\(path)' has no array '\(member)' (it holds "
                + entries.map { "'\(NPZRows.arrayName($0.name))'" }.joined(separator: ", ") + ")")
        }
        let fail: (String) -> TensorError = { TensorError("npz: \(path): member '\(entry.name)': \($0)") }
        self.name = member
        self.path = path
        self.file = file
        self.entry = entry
        self.fail = fail
        let inflater: MemberInflater?
        if entry.method == 0 {
            guard entry.compressedSize == entry.size else {
                throw fail("it is stored uncompressed but its sizes differ (\(entry.compressedSize) bytes stored, \(entry.size) expected)")
            }
            inflater = nil
        } else {
            // Deflate expands at most about 1032:1: a member claiming more is corrupt.
            guard entry.size <= Inflate.plausibleSize(compressed: entry.compressedSize) else {
                throw fail("it claims \(entry.size) bytes from \(entry.compressedSize) compressed bytes, more than deflate "
                    + "can produce (corrupt archive?)")
            }
            inflater = try MemberInflater(file: file, entry: entry, fail: fail)
        }
        self.inflater = inflater
        // The header: the preamble says how long it is.
        let preamble = try NPZRows.bytes(fd: fd, entry: entry, inflater: inflater, at: 0, count: min(entry.size, 12), fail: fail)
        let end = try preamble.withUnsafeBytes { try NPY.headerEnd($0, fail: fail) }
        guard end <= entry.size else {
            throw fail("its .npy header runs to byte \(end), past the member's \(entry.size) bytes (truncated member?)")
        }
        let head = try NPZRows.bytes(fd: fd, entry: entry, inflater: inflater, at: 0, count: end, fail: fail)
        let (description, dataStart) = try head.withUnsafeBytes { try NPY.header($0, fail: fail) }
        self.description = description
        self.dataStart = dataStart
        let shape = description.shape
        self.shape = shape
        guard let first = shape.first else { throw fail("it is a scalar; expected an array with one row per sample") }
        guard let count = elementCount(shape) else {
            throw fail("shape \(describeShape(shape)) is too large (at most \(maxTensorElements) elements)")
        }
        rowValues = first == 0 ? 0 : count / first
        let needed = count * description.scalar.size
        guard needed == entry.size - dataStart else {
            throw fail("a \(description.descr) array of size \(describeShape(shape)) needs \(needed) bytes, but \(entry.size - dataStart) "
                + "bytes follow its header")
        }
        if description.fortranOrder && shape.count > 1 {
            try MemoryBudget.check(count: count, itemBytes: 4, "npz: \(path): array '\(member)' (in Fortran order, read whole)")
            let raw = try NPZRows.bytes(fd: file.fd, entry: entry, inflater: inflater, at: dataStart, count: needed, fail: fail)
            let values = raw.withUnsafeBytes { description.scalar.convert($0, count: count, bigEndian: description.bigEndian) }
            whole = rowMajorFromFortran(values, shape: shape)
        }
    }

    public var rows: Int { shape[0] }

    /// The values of rows `first ..< first + count`, row-major, as float32.
    public func read(first: Int, count: Int) throws -> [Float] {
        guard first >= 0, count >= 0, first + count <= rows else {
            throw fail("rows \(first + 1)...\(first + count) asked for, the array has \(rows)")
        }
        try MemoryBudget.check(count: count * rowValues, itemBytes: 4, "npz: \(path): rows \(first + 1)...\(first + count) of '\(name)'")
        if let whole { return Array(whole[first * rowValues ..< (first + count) * rowValues]) }
        let size = description.scalar.size * rowValues
        let raw = try NPZRows.bytes(fd: file.fd, entry: entry, inflater: inflater, at: dataStart + first * size, count: count * size, fail: fail)
        return raw.withUnsafeBytes { description.scalar.convert($0, count: count * rowValues, bigEndian: description.bigEndian) }
    }

    /// The first `count` rows in blocks of `block` rows, in order: `body(first row, values)`.
    /// A scan of every row also checks the member's CRC-32.
    public func scan(count: Int, block: Int, _ body: (Int, [Float]) throws -> Void) throws {
        let count = min(count, rows)
        let block = max(1, block)
        var crc = CZlib.crc32(0, nil, 0)
        let checking = whole == nil && count == rows
        if checking {
            let head = try NPZRows.bytes(fd: file.fd, entry: entry, inflater: inflater, at: 0, count: dataStart, fail: fail)
            crc = head.withUnsafeBytes { CZlib.crc32(crc, $0.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt($0.count)) }
        }
        var first = 0
        while first < count {
            let n = min(block, count - first)
            if checking {
                let size = description.scalar.size * rowValues
                let raw = try NPZRows.bytes(fd: file.fd, entry: entry, inflater: inflater, at: dataStart + first * size, count: n * size, fail: fail)
                crc = raw.withUnsafeBytes { CZlib.crc32(crc, $0.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt($0.count)) }
                try body(first, raw.withUnsafeBytes { description.scalar.convert($0, count: n * rowValues, bigEndian: description.bigEndian) })
            } else {
                try body(first, try read(first: first, count: n))
            }
            first += n
        }
        if checking, UInt32(truncatingIfNeeded: crc) != entry.crc {
            throw fail("fails its CRC-32 check: the archive is corrupt")
        }
    }

    private static func arrayName(_ member: String) -> String {
        member.hasSuffix(".npy") ? String(member.dropLast(4)) : member
    }

    /// The file opened and its zip directory read (only the directory's pages are touched).
    private static func openArchive(_ path: String) throws -> (OpenFile, [ZipArchive.Entry]) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TensorError("npz: cannot open '\(path)' (\(errnoMessage(errno)))") }
        let file = OpenFile(fd)
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw TensorError("npz: cannot read '\(path)' (not a regular file)")
        }
        let size = Int(info.st_size)
        let fail: (String) -> TensorError = { TensorError("npz: \(path): \($0)") }
        guard size > 0, let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            if size == 0 { throw fail("file is 0 bytes, too short for a zip archive (at least 22 bytes)") }
            throw TensorError("npz: cannot read '\(path)' (\(errnoMessage(errno)))")
        }
        defer { munmap(map, size) }
        let entries = try ZipArchive.parseDirectory(UnsafeRawBufferPointer(start: map, count: size), fail: fail)
        return (file, entries.filter { !$0.name.hasSuffix("/") })
    }

    /// `count` bytes of the member's uncompressed data from `offset`.
    private static func bytes(fd: Int32, entry: ZipArchive.Entry, inflater: MemberInflater?, at offset: Int, count: Int,
                              fail: (String) -> TensorError) throws -> [UInt8] {
        guard offset >= 0, count >= 0, offset + count <= entry.size else {
            throw fail("bytes \(offset)...\(offset + count) asked for, the member has \(entry.size) (truncated member?)")
        }
        if let inflater { return try inflater.read(at: offset, count: count) }
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        try out.withUnsafeMutableBytes { buffer in
            while done < count {
                let n = pread(fd, buffer.baseAddress! + done, count - done, off_t(entry.dataOffset + offset + done))
                guard n > 0 else { throw fail("cannot read bytes from the file (\(n < 0 ? errnoMessage(errno) : "it ends early"))") }
                done += n
            }
        }
        return out
    }
}

/// A deflated zip member inflated as a stream, input read from the file in chunks: reading on
/// from where the last read ended costs only the bytes in between.
/// A file descriptor closed when the last user lets go of it.
private final class OpenFile {
    let fd: Int32
    init(_ fd: Int32) { self.fd = fd }
    deinit { close(fd) }
}

private final class MemberInflater {
    private let file: OpenFile
    private let entry: ZipArchive.Entry
    private let fail: (String) -> TensorError
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private let inputSize = 1 << 18
    private let input: UnsafeMutablePointer<Bytef>
    /// Uncompressed bytes produced, compressed bytes read from the file.
    private var position = 0
    private var consumed = 0

    init(file: OpenFile, entry: ZipArchive.Entry, fail: @escaping (String) -> TensorError) throws {
        self.file = file
        self.entry = entry
        self.fail = fail
        input = UnsafeMutablePointer<Bytef>.allocate(capacity: inputSize)
        stream.initialize(to: z_stream())
        let started = inflateInit2_(stream, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard started == Z_OK else {
            stream.deallocate()
            input.deallocate()
            throw fail("cannot start zlib decompression (zlib error \(started))")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        input.deallocate()
    }

    func read(at offset: Int, count: Int) throws -> [UInt8] {
        if offset < position {
            inflateReset(stream)
            position = 0
            consumed = 0
            stream.pointee.avail_in = 0
        }
        var scratch = [UInt8](repeating: 0, count: min(1 << 18, max(1, offset - position)))
        while position < offset {
            let n = min(scratch.count, offset - position)
            try scratch.withUnsafeMutableBytes { try inflate(into: $0.baseAddress!, count: n) }
        }
        var out = [UInt8](repeating: 0, count: count)
        if count > 0 { try out.withUnsafeMutableBytes { try inflate(into: $0.baseAddress!, count: count) } }
        return out
    }

    private func inflate(into target: UnsafeMutableRawPointer, count: Int) throws {
        var filled = 0
        while filled < count {
            if stream.pointee.avail_in == 0 && consumed < entry.compressedSize {
                let want = min(inputSize, entry.compressedSize - consumed)
                let n = pread(file.fd, input, want, off_t(entry.dataOffset + consumed))
                guard n > 0 else { throw fail("cannot read its compressed bytes (\(n < 0 ? errnoMessage(errno) : "the file ends early"))") }
                consumed += n
                stream.pointee.next_in = input
                stream.pointee.avail_in = uInt(n)
            }
            stream.pointee.next_out = (target + filled).assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(count - filled)
            let before = filled
            let rc = CZlib.inflate(stream, Z_NO_FLUSH)
            filled = count - Int(stream.pointee.avail_out)
            position += filled - before
            if rc == Z_STREAM_END, filled < count {
                throw fail("its deflate data ends after \(position) bytes, the directory says \(entry.size) (corrupt archive?)")
            }
            guard rc == Z_OK || rc == Z_STREAM_END || (rc == Z_BUF_ERROR && filled > before) else {
                throw fail("its deflate data is corrupt (zlib error \(rc))")
            }
            if filled == before && stream.pointee.avail_in == 0 && consumed >= entry.compressedSize {
                throw fail("its deflate data ends early (truncated archive?)")
            }
        }
    }
}
