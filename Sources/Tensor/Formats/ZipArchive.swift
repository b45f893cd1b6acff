/// A zip archive held in memory, read through its central directory: the container of `.npz`.
///
/// Supports what NumPy and Python's `zipfile` write: stored and deflated entries, with their
/// CRC-32 checked. ZIP64 archives (more than 65535 entries or 4 GiB), multi-disk archives and
/// encrypted entries are refused with a message that says so. The ZIP64 extra field that NumPy
/// puts in every local header is fine: entries are located and sized by the central directory.
struct ZipArchive {
    struct Entry {
        let name: String
        let method: UInt16
        let crc: UInt32
        let compressedSize: Int
        let size: Int
        /// Where the entry's local header, and its (compressed) data, start in the archive.
        let localOffset: Int
        let dataOffset: Int
    }

    let bytes: [UInt8]
    let entries: [Entry]
    private let fail: (String) -> TensorError

    /// `fail` turns a description into the error to throw (it adds the format and the file).
    init(bytes: [UInt8], fail: @escaping (String) -> TensorError) throws {
        self.bytes = bytes
        self.fail = fail
        self.entries = try bytes.withUnsafeBytes { try ZipArchive.parseDirectory($0, fail: fail) }
    }

    /// The uncompressed contents of an entry, checked against its size and CRC-32.
    func contents(of entry: Entry) throws -> [UInt8] {
        try bytes.withUnsafeBytes { file -> [UInt8] in
            let raw = UnsafeRawBufferPointer(rebasing: file[entry.dataOffset ..< entry.dataOffset + entry.compressedSize])
            let data: [UInt8]
            switch entry.method {
            case 0:
                guard entry.compressedSize == entry.size else {
                    throw fail("member '\(entry.name)' is stored uncompressed but its sizes differ "
                        + "(\(entry.compressedSize) bytes stored, \(entry.size) expected)")
                }
                data = Array(raw)
            default:
                guard entry.size <= Inflate.plausibleSize(compressed: entry.compressedSize) else {
                    throw fail("member '\(entry.name)' claims \(entry.size) bytes from \(entry.compressedSize) "
                        + "compressed bytes, more than deflate can produce (corrupt archive?)")
                }
                data = try Inflate.decompress(raw, container: .raw, limit: entry.size) {
                    fail("member '\(entry.name)': \($0)")
                }
                guard data.count == entry.size else {
                    throw fail("member '\(entry.name)' decompresses to \(data.count) bytes, "
                        + "its directory entry says \(entry.size) (corrupt archive?)")
                }
            }
            let crc = data.withUnsafeBytes { Inflate.crc32($0) }
            guard crc == entry.crc else {
                throw fail("member '\(entry.name)' fails its CRC-32 check (stored \(hex32(entry.crc)), "
                    + "computed \(hex32(crc))): the archive is corrupt")
            }
            return data
        }
    }

    private static let endSignature: UInt32 = 0x0605_4B50
    private static let zip64LocatorSignature: UInt32 = 0x0706_4B50
    private static let centralSignature: UInt32 = 0x0201_4B50
    private static let localSignature: UInt32 = 0x0403_4B50

    /// The members listed by the central directory of an archive's bytes (a mapped file works:
    /// only the directory's and the local headers' pages are read).
    static func parseDirectory(_ file: UnsafeRawBufferPointer,
                                       fail: (String) -> TensorError) throws -> [Entry] {
        let r = ByteReader(bytes: file, bigEndian: false)
        guard file.count >= 22 else {
            throw fail("file is \(file.count) bytes, too short for a zip archive (at least 22 bytes)")
        }
        if file.count >= 4, r.u32(0) != localSignature, r.u32(0) != endSignature {
            throw fail("not a zip archive: it starts with \(describeBytes(UnsafeRawBufferPointer(rebasing: file[0 ..< 4]))), "
                + "expected 'PK\\x03\\x04'")
        }
        // The end-of-central-directory record: the last 22 bytes, before a comment of up to 64 KiB.
        var end = -1
        var position = file.count - 22
        let lowest = max(0, file.count - 22 - 0xFFFF)
        while position >= lowest {
            if r.u32(position) == endSignature, position + 22 + Int(r.u16(position + 20)) <= file.count {
                end = position
                break
            }
            position -= 1
        }
        guard end >= 0 else {
            throw fail("no end-of-central-directory record found: not a zip archive, or a truncated one")
        }
        let disk = r.u16(end + 4), directoryDisk = r.u16(end + 6)
        let entriesHere = Int(r.u16(end + 8)), entryCount = Int(r.u16(end + 10))
        let directorySize = Int(r.u32(end + 12)), directoryOffset = Int(r.u32(end + 16))
        let isZip64 = (end >= 20 && r.u32(end - 20) == zip64LocatorSignature)
            || entryCount == 0xFFFF || entriesHere == 0xFFFF
            || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF
        guard !isZip64 else {
            throw fail("ZIP64 archives (more than 65535 members or 4 GiB) are not supported")
        }
        guard disk == 0, directoryDisk == 0, entriesHere == entryCount else {
            throw fail("multi-disk (split) zip archives are not supported")
        }
        guard directoryOffset <= end, directorySize <= end - directoryOffset else {
            throw fail("central directory (offset \(directoryOffset), \(directorySize) bytes) lies beyond "
                + "its end record at byte \(end) (truncated or corrupt archive?)")
        }

        var entries: [Entry] = []
        entries.reserveCapacity(min(entryCount, directorySize / 46))
        var names = Set<String>()
        var at = directoryOffset
        let directoryEnd = directoryOffset + directorySize
        for index in 0 ..< entryCount {
            guard directoryEnd - at >= 46, r.u32(at) == centralSignature else {
                throw fail("central directory entry \(index + 1) of \(entryCount) is missing or damaged "
                    + "at byte \(at) (corrupt archive?)")
            }
            let flags = r.u16(at + 8), method = r.u16(at + 10)
            let crc = r.u32(at + 16)
            let compressedSize = Int(r.u32(at + 20)), size = Int(r.u32(at + 24))
            let nameLength = Int(r.u16(at + 28)), extraLength = Int(r.u16(at + 30))
            let commentLength = Int(r.u16(at + 32))
            let localOffset = Int(r.u32(at + 42))
            let recordLength = 46 + nameLength + extraLength + commentLength
            guard recordLength <= directoryEnd - at else {
                throw fail("central directory entry \(index + 1) runs past the end of the directory (corrupt archive?)")
            }
            let nameBytes = UnsafeRawBufferPointer(rebasing: file[at + 46 ..< at + 46 + nameLength])
            let name = String(decoding: nameBytes, as: UTF8.self)
            at += recordLength

            guard compressedSize != 0xFFFF_FFFF, size != 0xFFFF_FFFF, localOffset != 0xFFFF_FFFF else {
                throw fail("member '\(name)' uses ZIP64 sizes (4 GiB or more), which are not supported")
            }
            guard flags & 1 == 0 else { throw fail("member '\(name)' is encrypted, which is not supported") }
            guard method == 0 || method == 8 else {
                throw fail("member '\(name)' uses compression method \(method) (\(methodName(method))); "
                    + "only stored (0) and deflated (8) members are supported")
            }
            guard names.insert(name).inserted else { throw fail("member '\(name)' appears twice") }

            guard localOffset <= file.count - 30, r.u32(localOffset) == localSignature else {
                throw fail("member '\(name)': no local header at byte \(localOffset) (corrupt archive?)")
            }
            // The local header must name the same member: readers that go by the local headers
            // (unzip, streaming readers) would otherwise see another archive than we do.
            let localNameLength = Int(r.u16(localOffset + 26))
            guard localNameLength <= file.count - localOffset - 30,
                  UnsafeRawBufferPointer(rebasing: file[localOffset + 30 ..< localOffset + 30 + localNameLength]).elementsEqual(nameBytes) else {
                let localName = localNameLength <= file.count - localOffset - 30
                    ? "'" + String(decoding: UnsafeRawBufferPointer(rebasing: file[localOffset + 30 ..< localOffset + 30 + localNameLength]), as: UTF8.self) + "'"
                    : "a name running past the end of the file"
                throw fail("member '\(name)': its local header at byte \(localOffset) names \(localName) "
                    + "(corrupt or malicious archive)")
            }
            let dataOffset = localOffset + 30 + localNameLength + Int(r.u16(localOffset + 28))
            guard dataOffset <= file.count, compressedSize <= file.count - dataOffset else {
                throw fail("member '\(name)' has \(compressedSize) bytes of data from byte \(dataOffset), "
                    + "past the end of the \(file.count)-byte file (truncated archive?)")
            }
            entries.append(Entry(name: name, method: method, crc: crc, compressedSize: compressedSize,
                                 size: size, localOffset: localOffset, dataOffset: dataOffset))
        }
        // Members must not share bytes (nor run into the directory): overlapping members are how
        // zip bombs make a small file decompress to far more than deflate's ratio allows.
        let byPosition = entries.sorted { $0.localOffset < $1.localOffset }
        for (k, entry) in byPosition.enumerated() {
            let end = entry.dataOffset + entry.compressedSize
            let limit = k + 1 < byPosition.count ? byPosition[k + 1].localOffset : directoryOffset
            guard end <= limit else {
                let other = k + 1 < byPosition.count ? "member '\(byPosition[k + 1].name)'" : "the central directory"
                throw fail("member '\(entry.name)' (bytes \(entry.localOffset) to \(end)) overlaps \(other) "
                    + "at byte \(limit) (corrupt or malicious archive)")
            }
        }
        return entries
    }

    private static func methodName(_ method: UInt16) -> String {
        switch method {
        case 9: return "deflate64"
        case 12: return "bzip2"
        case 14: return "LZMA"
        case 93: return "zstd"
        case 95: return "xz"
        case 99: return "AES encryption"
        default: return "unknown"
        }
    }
}

private func hex32(_ v: UInt32) -> String {
    "0x" + (0 ..< 4).reversed().map { hexByte(UInt8(truncatingIfNeeded: v >> (8 * UInt32($0)))) }.joined()
}
