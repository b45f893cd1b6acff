#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The safetensors format (Hugging Face): an 8-byte little-endian header length N, N bytes of
/// JSON `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}`,
/// then the data area that the offsets point into.
///
/// Reading accepts every integer and floating-point dtype of the format except the 8-bit floats,
/// and converts to float32. It trusts nothing in the file: a malformed file is a thrown
/// `TensorError` that names the file, the tensor, what was expected and what was found, and the
/// memory it allocates is bounded by the file's own size. Writing produces F32 in the layout of
/// the reference implementation (names sorted, header padded with spaces to a multiple of 8).
public enum SafeTensors {
    /// The reference implementation refuses larger headers; so do we.
    public static let maxHeaderBytes = 100_000_000
    /// More dimensions than any framework supports: a shape that long is a broken file.
    public static let maxRank = 64

    /// Reads every tensor of a .safetensors file, in file order (sorted by data offset),
    /// converted to float32.
    public static func read(path: String) throws
        -> (tensors: [(name: String, tensor: Tensor)], metadata: [String: String]) {
        try read(bytes: readWholeFile(path, format: "safetensors"), source: path)
    }

    /// Reads a safetensors image held in memory; `source` names it in error messages.
    public static func read(bytes: [UInt8], source: String) throws
        -> (tensors: [(name: String, tensor: Tensor)], metadata: [String: String]) {
        try bytes.withUnsafeBytes { try decodeFile($0, source: source) }
    }

    /// Writes F32 tensors (names sorted, as the Python library does), atomically: a temporary
    /// file in the same folder, then rename. Names must be unique and non-empty.
    public static func write(path: String, tensors: [(name: String, tensor: Tensor)],
                             metadata: [String: String] = [:]) throws {
        let bytes = try encodeFile(tensors: tensors, metadata: metadata, context: "safetensors: \(path): ")
        try writeAtomically(bytes, to: path, format: "safetensors")
    }

    /// The bytes `write` puts in the file.
    public static func encode(tensors: [(name: String, tensor: Tensor)],
                              metadata: [String: String] = [:]) throws -> [UInt8] {
        try encodeFile(tensors: tensors, metadata: metadata, context: "safetensors: ")
    }

    /// `context` starts the error messages: the file being written, when there is one.
    private static func encodeFile(tensors: [(name: String, tensor: Tensor)], metadata: [String: String],
                                   context: String) throws -> [UInt8] {
        var seen = Set<String>()
        for (name, _) in tensors {
            guard !name.isEmpty else {
                throw TensorError("\(context)tensor names must be non-empty, got an empty name")
            }
            guard name != "__metadata__" else {
                throw TensorError("\(context)'__metadata__' is reserved for the metadata, not a tensor name")
            }
            guard seen.insert(name).inserted else {
                throw TensorError("\(context)tensor names must be unique, got '\(name)' twice")
            }
        }
        // Byte order, as the reference implementation (Rust) compares names.
        let sorted = tensors.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }

        var json = "{"
        if !metadata.isEmpty {
            json += "\"__metadata__\":{"
            let keys = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            json += keys.map { "\(jsonStringLiteral($0)):\(jsonStringLiteral(metadata[$0] ?? ""))" }.joined(separator: ",")
            json += "}"
            if !sorted.isEmpty { json += "," }
        }
        var offset = 0
        var entries: [String] = []
        for (name, tensor) in sorted {
            let end = offset + tensor.count * 4
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append("\(jsonStringLiteral(name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        json += entries.joined(separator: ",") + "}"

        var header = Array(json.utf8)
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))
        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for (_, tensor) in sorted {
            #if _endian(little)
            tensor.storage.withUnsafeBytes { out.append(contentsOf: $0) }
            #else
            for v in tensor.storage {
                withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) }
            }
            #endif
        }
        return out
    }
}

// MARK: - Reading

/// The element types of the format that we read, with their sizes in bytes.
private enum SafeTensorsDType: String, CaseIterable {
    case BOOL, U8, I8, U16, I16, F16, BF16, U32, I32, F32, U64, I64, F64

    var size: Int {
        switch self {
        case .BOOL, .U8, .I8: return 1
        case .U16, .I16, .F16, .BF16: return 2
        case .U32, .I32, .F32: return 4
        case .U64, .I64, .F64: return 8
        }
    }
}

/// One tensor as the header describes it, before any check beyond JSON types.
private struct HeaderEntry {
    var name: String
    var dtype: String
    var shape: [Int]
    var begin: Int
    var end: Int
    var order: Int
}

private func decodeFile(_ file: UnsafeRawBufferPointer, source: String) throws
    -> (tensors: [(name: String, tensor: Tensor)], metadata: [String: String]) {
    func fail(_ what: String) -> TensorError { TensorError("safetensors: \(source): \(what)") }

    guard file.count >= 8 else {
        throw fail("file is \(file.count) bytes, too short for the 8-byte header length")
    }
    let n = UInt64(littleEndian: file.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
    guard n <= UInt64(SafeTensors.maxHeaderBytes) else {
        throw fail("header length \(n) is larger than the \(SafeTensors.maxHeaderBytes)-byte limit (not a safetensors file?)")
    }
    let headerLength = Int(n)
    guard headerLength <= file.count - 8 else {
        throw fail("header length \(headerLength) is larger than the \(file.count - 8) bytes that follow it (truncated file?)")
    }
    guard headerLength > 0 else { throw fail("header is empty (header length 0)") }
    let header = UnsafeRawBufferPointer(rebasing: file[8 ..< 8 + headerLength])
    if let bad = firstInvalidUTF8(header) {
        throw fail("header is not valid UTF-8 (bad byte 0x\(hex2(header[bad])) at byte \(bad) of the header)")
    }

    var parser = HeaderParser(bytes: header, fail: fail)
    let (entries, metadata) = try parser.parseHeader()

    let dataStart = 8 + headerLength
    let dataSize = file.count - dataStart
    var dtypes: [SafeTensorsDType] = []
    dtypes.reserveCapacity(entries.count)
    for e in entries {
        guard let dtype = SafeTensorsDType(rawValue: e.dtype) else {
            let known = SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", ")
            throw fail("tensor '\(e.name)' has unknown dtype '\(e.dtype)' (expected one of \(known))")
        }
        var count = 1
        for d in e.shape {
            let (m, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else {
                throw fail("tensor '\(e.name)' has shape \(describeShape(e.shape)), too many elements")
            }
            count = m
        }
        let (needed, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow else {
            throw fail("tensor '\(e.name)' has shape \(describeShape(e.shape)), too many elements")
        }
        guard e.begin <= e.end else {
            throw fail("tensor '\(e.name)' has data_offsets [\(e.begin), \(e.end)]: end is before begin")
        }
        guard e.end <= dataSize else {
            throw fail("tensor '\(e.name)' has data_offsets [\(e.begin), \(e.end)] beyond the data area, "
                + "which has \(dataSize) bytes (truncated file?)")
        }
        guard needed == e.end - e.begin else {
            throw fail("tensor '\(e.name)' needs \(needed) bytes for \(dtype.rawValue) \(describeShape(e.shape)) "
                + "but its data_offsets span \(e.end - e.begin)")
        }
        dtypes.append(dtype)
    }

    // File order: by data offset; an empty tensor takes no bytes, so it overlaps nothing.
    let order = entries.indices.sorted {
        let a = entries[$0], b = entries[$1]
        return (a.begin, a.end, a.order) < (b.begin, b.end, b.order)
    }
    var previous: Int? = nil
    for i in order where entries[i].end > entries[i].begin {
        if let p = previous, entries[i].begin < entries[p].end {
            let a = entries[p], b = entries[i]
            throw fail("tensors '\(a.name)' (data_offsets [\(a.begin), \(a.end)]) and '\(b.name)' "
                + "(data_offsets [\(b.begin), \(b.end)]) overlap")
        }
        previous = i
    }

    var tensors: [(name: String, tensor: Tensor)] = []
    tensors.reserveCapacity(entries.count)
    for i in order {
        let e = entries[i]
        let raw = UnsafeRawBufferPointer(rebasing: file[dataStart + e.begin ..< dataStart + e.end])
        let values = convertToFloat(raw, dtype: dtypes[i])
        do {
            tensors.append((e.name, try Tensor(shape: e.shape, storage: values)))
        } catch let error as TensorError {
            throw fail("tensor '\(e.name)': \(error.message)")
        }
    }
    return (tensors, metadata)
}

/// Little-endian values of one dtype to float32 (rounding to nearest where float32 is narrower).
private func convertToFloat(_ raw: UnsafeRawBufferPointer, dtype: SafeTensorsDType) -> [Float] {
    let count = raw.count / dtype.size
    return [Float](unsafeUninitializedCapacity: count) { out, initialized in
        @inline(__always) func load<T: FixedWidthInteger>(_ k: Int, _: T.Type) -> T {
            T(littleEndian: raw.loadUnaligned(fromByteOffset: k * MemoryLayout<T>.size, as: T.self))
        }
        switch dtype {
        case .BOOL: for k in 0 ..< count { out[k] = raw[k] != 0 ? 1 : 0 }
        case .U8: for k in 0 ..< count { out[k] = Float(raw[k]) }
        case .I8: for k in 0 ..< count { out[k] = Float(Int8(bitPattern: raw[k])) }
        case .U16: for k in 0 ..< count { out[k] = Float(load(k, UInt16.self)) }
        case .I16: for k in 0 ..< count { out[k] = Float(load(k, Int16.self)) }
        case .F16: for k in 0 ..< count { out[k] = floatFromHalfBits(load(k, UInt16.self)) }
        case .BF16: for k in 0 ..< count { out[k] = Float(bitPattern: UInt32(load(k, UInt16.self)) << 16) }
        case .U32: for k in 0 ..< count { out[k] = Float(load(k, UInt32.self)) }
        case .I32: for k in 0 ..< count { out[k] = Float(load(k, Int32.self)) }
        case .F32: for k in 0 ..< count { out[k] = Float(bitPattern: load(k, UInt32.self)) }
        case .U64: for k in 0 ..< count { out[k] = Float(load(k, UInt64.self)) }
        case .I64: for k in 0 ..< count { out[k] = Float(load(k, Int64.self)) }
        case .F64: for k in 0 ..< count { out[k] = Float(Double(bitPattern: load(k, UInt64.self))) }
        }
        initialized = count
    }
}

/// IEEE 754 binary16 to binary32, exactly: every half value is a float value. Written out
/// rather than through `Float16`, which is missing on some platforms (macOS on Intel).
func floatFromHalfBits(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x3FF)
    switch exponent {
    case 0:
        // Zero or subnormal: mantissa × 2^-24, exact in float32.
        let magnitude = Float(mantissa) * 0x1p-24
        return sign != 0 ? -magnitude : magnitude
    case 0x1F:
        // Infinity or NaN; a NaN keeps its payload.
        return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
    default:
        return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
    }
}

/// The offset of the first byte that does not belong to valid UTF-8, or nil.
private func firstInvalidUTF8(_ bytes: UnsafeRawBufferPointer) -> Int? {
    var position = 0
    // ASCII is the common case: skip it without the decoder.
    while position < bytes.count, bytes[position] < 0x80 { position += 1 }
    if position == bytes.count { return nil }
    var iterator = bytes[position...].makeIterator()
    var decoder = Unicode.UTF8()
    while true {
        switch decoder.decode(&iterator) {
        case .scalarValue(let scalar): position += Unicode.UTF8.width(scalar)
        case .emptyInput: return nil
        case .error: return position
        }
    }
}

private func hex2(_ byte: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
}

/// A JSON reader shaped by what a safetensors header may contain: it builds the entries and
/// the metadata directly, skips unknown fields without keeping them, refuses duplicate keys,
/// and limits nesting, so that no header can make it recurse or allocate without bound.
private struct HeaderParser {
    let bytes: UnsafeRawBufferPointer
    let fail: (String) -> TensorError
    var i = 0
    static let maxDepth = 64

    init(bytes: UnsafeRawBufferPointer, fail: @escaping (String) -> TensorError) {
        self.bytes = bytes
        self.fail = fail
    }

    mutating func parseHeader() throws -> ([HeaderEntry], [String: String]) {
        skipSpace()
        guard peek == UInt8(ascii: "{") else {
            throw fail("header must be a JSON object, found \(describeValue())")
        }
        var entries: [HeaderEntry] = []
        var names = Set<String>()
        var metadata: [String: String]? = nil
        try parseObject { parser, key in
            if key == "__metadata__" {
                guard metadata == nil else { throw parser.fail("header has '__metadata__' twice") }
                metadata = try parser.parseMetadata()
            } else {
                guard names.insert(key).inserted else {
                    throw parser.fail("tensor '\(key)' appears twice in the header")
                }
                entries.append(try parser.parseEntry(name: key, order: entries.count))
            }
        }
        skipSpace()
        guard i == bytes.count else {
            throw fail("header is not valid JSON: \(describeByte()) after the end of the object, at byte \(i) of the header")
        }
        return (entries, metadata ?? [:])
    }

    private mutating func parseMetadata() throws -> [String: String] {
        skipSpace()
        if peek == UInt8(ascii: "n") {
            try parseLiteral("null")
            return [:]
        }
        guard peek == UInt8(ascii: "{") else {
            throw fail("'__metadata__' must be an object of strings, found \(describeValue())")
        }
        var metadata: [String: String] = [:]
        try parseObject { parser, key in
            parser.skipSpace()
            guard parser.peek == UInt8(ascii: "\"") else {
                throw parser.fail("'__metadata__' value for '\(key)' must be a string, found \(parser.describeValue())")
            }
            let value = try parser.parseString()
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw parser.fail("'__metadata__' has key '\(key)' twice")
            }
        }
        return metadata
    }

    private mutating func parseEntry(name: String, order: Int) throws -> HeaderEntry {
        skipSpace()
        guard peek == UInt8(ascii: "{") else {
            throw fail("tensor '\(name)' must be an object with \"dtype\", \"shape\" and \"data_offsets\", found \(describeValue())")
        }
        var dtype: String? = nil
        var shape: [Int]? = nil
        var offsets: [Int]? = nil
        try parseObject { parser, key in
            switch key {
            case "dtype":
                guard dtype == nil else { throw parser.fail("tensor '\(name)' has \"dtype\" twice") }
                parser.skipSpace()
                guard parser.peek == UInt8(ascii: "\"") else {
                    throw parser.fail("tensor '\(name)': \"dtype\" must be a string, found \(parser.describeValue())")
                }
                dtype = try parser.parseString()
            case "shape":
                guard shape == nil else { throw parser.fail("tensor '\(name)' has \"shape\" twice") }
                shape = try parser.parseIndexArray(what: "tensor '\(name)': \"shape\"", limit: SafeTensors.maxRank)
            case "data_offsets":
                guard offsets == nil else { throw parser.fail("tensor '\(name)' has \"data_offsets\" twice") }
                offsets = try parser.parseIndexArray(what: "tensor '\(name)': \"data_offsets\"", limit: 2)
            default:
                try parser.skipValue(depth: 2)
            }
        }
        guard let dtype else { throw fail("tensor '\(name)' has no \"dtype\"") }
        guard let shape else { throw fail("tensor '\(name)' has no \"shape\"") }
        guard let offsets else { throw fail("tensor '\(name)' has no \"data_offsets\"") }
        guard offsets.count == 2 else {
            throw fail("tensor '\(name)': \"data_offsets\" must be [begin, end], found \(offsets.count) "
                + (offsets.count == 1 ? "number" : "numbers"))
        }
        return HeaderEntry(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1], order: order)
    }

    /// `{ "key": value, ... }` at the current position; `member` must consume the value.
    private mutating func parseObject(_ member: (inout HeaderParser, String) throws -> Void) throws {
        skipSpace()
        try expect("{", "'{'")
        skipSpace()
        if peek == UInt8(ascii: "}") { i += 1; return }
        while true {
            skipSpace()
            guard peek == UInt8(ascii: "\"") else { throw syntaxError(expected: "a string key") }
            let key = try parseString()
            skipSpace()
            try expect(":", "':' after a key")
            try member(&self, key)
            skipSpace()
            if peek == UInt8(ascii: ",") { i += 1; continue }
            if peek == UInt8(ascii: "}") { i += 1; return }
            throw syntaxError(expected: "',' or '}'")
        }
    }

    /// An array of integers in 0...Int.max (dimensions, byte offsets), at most `limit` long.
    private mutating func parseIndexArray(what: String, limit: Int) throws -> [Int] {
        skipSpace()
        guard peek == UInt8(ascii: "[") else {
            throw fail("\(what) must be an array of non-negative integers, found \(describeValue())")
        }
        i += 1
        var values: [Int] = []
        skipSpace()
        if peek == UInt8(ascii: "]") { i += 1; return values }
        while true {
            skipSpace()
            guard let c = peek, c == UInt8(ascii: "-") || isDigit(c) else {
                throw fail("\(what) must contain only non-negative integers, found \(describeValue())")
            }
            let start = i
            let isInteger = try scanNumber()
            let text = String(decoding: bytes[start ..< i].prefix(40), as: UTF8.self) + (i - start > 40 ? "..." : "")
            guard isInteger, let value = Int(text), value >= 0 else {
                let why = !isInteger ? "not an integer" : text.hasPrefix("-") ? "negative" : "too large"
                throw fail("\(what) must contain only non-negative integers, found \(text) (\(why))")
            }
            values.append(value)
            guard values.count <= limit else {
                throw fail("\(what) has more than \(limit) elements")
            }
            skipSpace()
            if peek == UInt8(ascii: ",") { i += 1; continue }
            if peek == UInt8(ascii: "]") { i += 1; return values }
            throw syntaxError(expected: "',' or ']'")
        }
    }

    /// Any JSON value, checked and dropped.
    private mutating func skipValue(depth: Int) throws {
        skipSpace()
        guard let c = peek else { throw syntaxError(expected: "a value") }
        switch c {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard depth < HeaderParser.maxDepth else {
                throw fail("header is nested more than \(HeaderParser.maxDepth) levels deep")
            }
            if c == UInt8(ascii: "{") {
                try parseObject { parser, _ in try parser.skipValue(depth: depth + 1) }
                return
            }
            i += 1
            skipSpace()
            if peek == UInt8(ascii: "]") { i += 1; return }
            while true {
                try skipValue(depth: depth + 1)
                skipSpace()
                if peek == UInt8(ascii: ",") { i += 1; continue }
                if peek == UInt8(ascii: "]") { i += 1; return }
                throw syntaxError(expected: "',' or ']'")
            }
        case UInt8(ascii: "\""): _ = try parseString()
        case UInt8(ascii: "t"): try parseLiteral("true")
        case UInt8(ascii: "f"): try parseLiteral("false")
        case UInt8(ascii: "n"): try parseLiteral("null")
        default:
            guard c == UInt8(ascii: "-") || isDigit(c) else { throw syntaxError(expected: "a value") }
            _ = try scanNumber()
        }
    }

    /// A string literal; the header is already known to be valid UTF-8.
    private mutating func parseString() throws -> String {
        try expect("\"", "'\"'")
        var out: [UInt8] = []
        while true {
            guard let c = peek else { throw syntaxError(expected: "'\"' to close the string") }
            switch c {
            case UInt8(ascii: "\""):
                i += 1
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                i += 1
                guard let e = peek else { throw syntaxError(expected: "an escape sequence") }
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    i += 1
                    var code = try parseHex4()
                    if (0xD800 ..< 0xDC00).contains(code) {
                        guard peek == UInt8(ascii: "\\"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "u") else {
                            throw syntaxError(expected: "a low surrogate '\\uDC00'...'\\uDFFF' after a high surrogate")
                        }
                        i += 2
                        let low = try parseHex4()
                        guard (0xDC00 ..< 0xE000).contains(low) else {
                            i -= 6
                            throw syntaxError(expected: "a low surrogate '\\uDC00'...'\\uDFFF' after a high surrogate")
                        }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else {
                        i -= 6
                        throw syntaxError(expected: "a Unicode scalar, not a lone surrogate,")
                    }
                    Unicode.UTF8.encode(scalar) { out.append($0) }
                    continue
                default:
                    throw syntaxError(expected: "an escape sequence (one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)")
                }
                i += 1
            default:
                guard c >= 0x20 else { throw syntaxError(expected: "no control character inside a string") }
                out.append(c)
                i += 1
            }
        }
    }

    private mutating func parseHex4() throws -> UInt32 {
        var code: UInt32 = 0
        for _ in 0 ..< 4 {
            // Read through `bytes` directly: the `peek` form crashes Swift 6.3's optimizer.
            let digit: UInt32? = i < bytes.count ? hexValue(bytes[i]) : nil
            guard let digit else {
                throw syntaxError(expected: "four hexadecimal digits after '\\u'")
            }
            code = code << 4 | digit
            i += 1
        }
        return code
    }

    /// JSON number syntax; returns whether it is written as an integer (no fraction, no exponent).
    private mutating func scanNumber() throws -> Bool {
        if peek == UInt8(ascii: "-") { i += 1 }
        guard let first = peek, isDigit(first) else { throw syntaxError(expected: "a digit") }
        i += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        var isInteger = true
        if peek == UInt8(ascii: ".") {
            i += 1
            guard let c = peek, isDigit(c) else { throw syntaxError(expected: "a digit after '.'") }
            skipDigits()
            isInteger = false
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            i += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
            guard let c = peek, isDigit(c) else { throw syntaxError(expected: "a digit in the exponent") }
            skipDigits()
            isInteger = false
        }
        return isInteger
    }

    private mutating func parseLiteral(_ word: StaticString) throws {
        let text = UnsafeRawBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        for byte in text {
            guard peek == byte else { throw syntaxError(expected: "'\(word)'") }
            i += 1
        }
    }

    private mutating func expect(_ char: Unicode.Scalar, _ description: String) throws {
        guard peek == UInt8(ascii: char) else { throw syntaxError(expected: description) }
        i += 1
    }

    private var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

    private mutating func skipSpace() {
        while let c = peek, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 }
    }

    private mutating func skipDigits() {
        while let c = peek, isDigit(c) { i += 1 }
    }

    private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case UInt8(ascii: "0") ... UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a") ... UInt8(ascii: "f"): return UInt32(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A") ... UInt8(ascii: "F"): return UInt32(c - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    /// What kind of JSON value starts here, for "expected X, found Y" messages.
    private func describeValue() -> String {
        guard let c = peek else { return "the end of the header" }
        switch c {
        case UInt8(ascii: "{"): return "an object"
        case UInt8(ascii: "["): return "an array"
        case UInt8(ascii: "\""): return "a string"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return "a boolean"
        case UInt8(ascii: "n"): return "null"
        case UInt8(ascii: "-"), UInt8(ascii: "0") ... UInt8(ascii: "9"): return "a number"
        default: return describeByte()
        }
    }

    private func describeByte() -> String {
        guard let c = peek else { return "the end of the header" }
        if c >= 0x21 && c < 0x7F { return "'\(Character(Unicode.Scalar(c)))'" }
        return "byte 0x\(hex2(c))"
    }

    private func syntaxError(expected: String) -> TensorError {
        fail("header is not valid JSON: expected \(expected) at byte \(i) of the header, found \(describeByte())")
    }
}

// MARK: - Writing

