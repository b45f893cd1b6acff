/// NumPy's `.npy` format: the magic `\x93NUMPY`, a version (1.0, 2.0 or 3.0), a header length
/// (2 bytes little-endian in version 1, 4 bytes after), a header that is a Python dict literal
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`, then the raw values.
///
/// Reading accepts booleans, signed and unsigned integers of 1, 2, 4 and 8 bytes and floats of
/// 2, 4 and 8 bytes, in either byte order, in C or Fortran order (transposed to row-major), and
/// converts to float32. Structured, string, complex and object arrays are refused (object arrays
/// would need unpickling, which no file should get to do). A malformed file is a thrown
/// `TensorError` naming the file; what is allocated is bounded by the file's own size.
/// Writing produces `<f4` in C order, version 1.0, as `numpy.save` does.
public enum NPY {
    /// NumPy itself refuses headers over 10000 bytes unless told otherwise; a header this long is
    /// not an array header.
    public static let maxHeaderBytes = 1 << 20
    /// More dimensions than NumPy supports (64): a shape that long is a broken file.
    public static let maxRank = 64

    /// Reads the array of a `.npy` file as float32, row-major.
    public static func read(path: String) throws -> Tensor {
        try read(bytes: readWholeFile(path, format: "npy"), source: path)
    }

    /// Reads a `.npy` image held in memory; `source` names it in error messages.
    public static func read(bytes: [UInt8], source: String) throws -> Tensor {
        try bytes.withUnsafeBytes { raw in
            try decode(raw) { TensorError("npy: \(source): \($0)") }
        }
    }

    /// Writes `tensor` as a `<f4` array in C order, atomically (a temporary file, then rename).
    public static func write(path: String, tensor: Tensor) throws {
        try writeAtomically(encode(tensor), to: path, format: "npy")
    }

    /// The bytes `write` puts in the file.
    public static func encode(_ tensor: Tensor) -> [UInt8] {
        let shape: String
        switch tensor.rank {
        case 0: shape = "()"
        case 1: shape = "(\(tensor.shape[0]),)"
        default: shape = "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = Array("{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }".utf8)
        // As numpy.save: spaces and a newline so that the data starts at a multiple of 64 bytes.
        let unpadded = 10 + header.count + 1
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (64 - unpadded % 64) % 64))
        header.append(UInt8(ascii: "\n"))

        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        out.reserveCapacity(10 + header.count + 4 * tensor.count)
        out.append(UInt8(header.count & 0xFF))
        out.append(UInt8(header.count >> 8))
        out.append(contentsOf: header)
        #if _endian(little)
        tensor.storage.withUnsafeBytes { out.append(contentsOf: $0) }
        #else
        for v in tensor.storage {
            withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) }
        }
        #endif
        return out
    }

    /// Whether the bytes start with the `.npy` magic.
    static func hasMagic(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 6 && bytes[0] == 0x93 && bytes[1] == UInt8(ascii: "N") && bytes[2] == UInt8(ascii: "U")
            && bytes[3] == UInt8(ascii: "M") && bytes[4] == UInt8(ascii: "P") && bytes[5] == UInt8(ascii: "Y")
    }

    /// Where the header of a `.npy` image ends (its values start), from its first 10 or 12
    /// bytes (the preamble), checked.
    static func headerEnd(_ file: UnsafeRawBufferPointer, fail: (String) -> TensorError) throws -> Int {
        guard hasMagic(file) else {
            throw fail("not a .npy file: it starts with \(describeBytes(file, limit: 6)), expected '\\x93NUMPY'")
        }
        guard file.count >= 10 else {
            throw fail("file is \(file.count) bytes, too short for the 10-byte .npy preamble (truncated file?)")
        }
        let major = file[6], minor = file[7]
        let r = ByteReader(bytes: file, bigEndian: false)
        let headerStart: Int
        let headerLength: Int
        switch major {
        case 1:
            headerStart = 10
            headerLength = Int(r.u16(8))
        case 2, 3:
            guard file.count >= 12 else {
                throw fail("file is \(file.count) bytes, too short for the 12-byte .npy \(major).0 preamble (truncated file?)")
            }
            headerStart = 12
            headerLength = Int(r.u32(8))
        default:
            throw fail("unsupported .npy format version \(major).\(minor) (expected 1.0, 2.0 or 3.0)")
        }
        guard headerLength <= NPY.maxHeaderBytes else {
            throw fail("header length \(headerLength) is larger than the \(NPY.maxHeaderBytes)-byte limit (corrupt file?)")
        }
        return headerStart + headerLength
    }

    /// What the header of a `.npy` image says about its array, and where the values start;
    /// `file` holds at least the header (`headerEnd` bytes).
    static func header(_ file: UnsafeRawBufferPointer, fail: @escaping (String) -> TensorError) throws -> (ArrayDescription, Int) {
        let end = try headerEnd(file, fail: fail)
        let headerStart = file[6] == 1 ? 10 : 12
        guard end <= file.count else {
            throw fail("header length \(end - headerStart) is larger than the \(file.count - headerStart) bytes "
                + "that follow it (truncated file?)")
        }
        let header = UnsafeRawBufferPointer(rebasing: file[headerStart ..< end])
        return (try parseHeader(header, fail: fail), end)
    }

    /// The array of a `.npy` image; `fail` makes the errors (it names the file, or the member
    /// of an `.npz`).
    static func decode(_ file: UnsafeRawBufferPointer, fail: @escaping (String) -> TensorError) throws -> Tensor {
        let (description, dataStart) = try header(file, fail: fail)
        guard let count = elementCount(description.shape) else {
            throw fail("shape \(describeShape(description.shape)) is too large (at most \(maxTensorElements) elements)")
        }
        let (needed, overflow) = count.multipliedReportingOverflow(by: description.scalar.size)
        let available = file.count - dataStart
        guard !overflow, needed <= available else {
            throw fail("a \(description.descr) array of size \(describeShape(description.shape)) needs \(count) values, "
                + "\(overflow ? count : needed) bytes, but only \(available) bytes follow the header (truncated file?)")
        }
        guard needed == available else {
            throw fail("a \(description.descr) array of size \(describeShape(description.shape)) needs \(needed) bytes, but \(available) "
                + "bytes follow the header (several arrays saved into one file? this reader takes one array per .npy)")
        }
        let raw = UnsafeRawBufferPointer(rebasing: file[dataStart ..< dataStart + needed])
        var values = description.scalar.convert(raw, count: count, bigEndian: description.bigEndian)
        if description.fortranOrder && description.shape.count > 1 && count > 0 {
            values = rowMajorFromFortran(values, shape: description.shape)
        }
        return Tensor(uncheckedShape: description.shape, storage: values)
    }
}

/// What the header says about the array.
struct ArrayDescription {
    var descr: String
    var scalar: StoredScalar
    var bigEndian: Bool
    var fortranOrder: Bool
    var shape: [Int]
}

/// Column-major (first index fastest) values rearranged into row-major order.
func rowMajorFromFortran(_ values: [Float], shape: [Int]) -> [Float] {
    let rank = shape.count
    let strides = stridesOf(shape)
    var index = [Int](repeating: 0, count: rank)
    var offset = 0
    return [Float](unsafeUninitializedCapacity: values.count) { out, initialized in
        for k in 0 ..< values.count {
            out[offset] = values[k]
            var d = 0
            while d < rank {
                index[d] += 1
                offset += strides[d]
                if index[d] < shape[d] { break }
                offset -= strides[d] * shape[d]
                index[d] = 0
                d += 1
            }
        }
        initialized = values.count
    }
}

private func parseHeader(_ header: UnsafeRawBufferPointer, fail: @escaping (String) -> TensorError) throws -> ArrayDescription {
    var parser = PythonLiteralParser(bytes: header, fail: fail)
    let value = try parser.parseHeaderDict()
    guard case .dict(let items) = value else {
        throw fail("header must be a Python dict literal, found \(value.kind)")
    }
    var descrValue: PythonValue? = nil, fortranValue: PythonValue? = nil, shapeValue: PythonValue? = nil
    for (key, item) in items {
        switch key {
        case "descr": descrValue = item
        case "fortran_order": fortranValue = item
        case "shape": shapeValue = item
        default: break
        }
    }
    guard let descrValue else { throw fail("header has no 'descr' key") }
    guard let fortranValue else { throw fail("header has no 'fortran_order' key") }
    guard let shapeValue else { throw fail("header has no 'shape' key") }

    guard case .string(let descr) = descrValue else {
        if case .list = descrValue {
            throw fail("structured arrays (a 'descr' list of fields) are not supported; save each field as its own array")
        }
        throw fail("header 'descr' must be a dtype string such as '<f4', found \(descrValue.kind)")
    }
    let (scalar, bigEndian) = try parseDescr(descr, fail: fail)
    guard case .bool(let fortranOrder) = fortranValue else {
        throw fail("header 'fortran_order' must be True or False, found \(fortranValue.kind)")
    }
    guard case .tuple(let dims) = shapeValue else {
        throw fail("header 'shape' must be a tuple of integers, found \(shapeValue.kind)")
    }
    guard dims.count <= NPY.maxRank else {
        throw fail("header 'shape' has \(dims.count) dimensions, more than \(NPY.maxRank)")
    }
    var shape: [Int] = []
    for d in dims {
        guard case .int(let n) = d, n >= 0 else {
            throw fail("header 'shape' must contain non-negative integers, found \(d.kind)")
        }
        shape.append(n)
    }
    return ArrayDescription(descr: descr, scalar: scalar, bigEndian: bigEndian, fortranOrder: fortranOrder, shape: shape)
}

/// `<f4`, `>i2`, `|u1`, `|b1`, ...: the element type and its byte order.
private func parseDescr(_ descr: String, fail: (String) -> TensorError) throws -> (StoredScalar, Bool) {
    let supported = "<f2 <f4 <f8 |u1 |i1 <u2 <i2 <u4 <i4 <u8 <i8 |b1 (or '>' for big-endian)"
    let chars = Array(descr.utf8)
    guard chars.count >= 2, [UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "|"), UInt8(ascii: "=")].contains(chars[0])
    else {
        throw fail("unsupported dtype '\(descr)' (expected one of \(supported))")
    }
    let bigEndian = chars[0] == UInt8(ascii: ">")
    let code = String(decoding: chars[1...], as: UTF8.self)
    let scalar: StoredScalar
    switch code {
    case "b1", "?": scalar = .bool
    case "u1": scalar = .u8
    case "i1": scalar = .i8
    case "u2": scalar = .u16
    case "i2": scalar = .i16
    case "f2": scalar = .f16
    case "u4": scalar = .u32
    case "i4": scalar = .i32
    case "f4": scalar = .f32
    case "u8": scalar = .u64
    case "i8": scalar = .i64
    case "f8": scalar = .f64
    default:
        let why: String
        switch chars[1] {
        case UInt8(ascii: "O"): why = "object arrays need unpickling, which this reader never does"
        case UInt8(ascii: "c"): why = "complex numbers have no float32 equivalent"
        case UInt8(ascii: "U"), UInt8(ascii: "S"), UInt8(ascii: "a"): why = "strings are not numbers"
        case UInt8(ascii: "M"), UInt8(ascii: "m"): why = "dates and time deltas are not supported"
        case UInt8(ascii: "V"): why = "raw void records are not supported"
        default: why = "not a supported numeric type"
        }
        throw fail("unsupported dtype '\(descr)': \(why) (expected one of \(supported))")
    }
    return (scalar, bigEndian)
}

/// The Python values a `.npy` header may hold.
private indirect enum PythonValue {
    case string(String)
    case int(Int)
    case bool(Bool)
    case none
    case tuple([PythonValue])
    case list([PythonValue])
    case dict([(String, PythonValue)])

    var kind: String {
        switch self {
        case .string(let s): return "the string '\(s.prefix(40))'"
        case .int(let n): return "the integer \(n)"
        case .bool(let b): return b ? "True" : "False"
        case .none: return "None"
        case .tuple: return "a tuple"
        case .list: return "a list"
        case .dict: return "a dict"
        }
    }
}

/// A reader for the Python literals of a `.npy` header: strings, integers, True/False/None,
/// tuples, lists and dicts with string keys, nested at most `maxDepth` deep, so that no header
/// can make it recurse without bound. It reads the bytes by index (no `peek`-style optional
/// chains, which have crashed Swift 6.3's optimizer in a parser like this).
private struct PythonLiteralParser {
    let bytes: UnsafeRawBufferPointer
    let fail: (String) -> TensorError
    var i = 0
    static let maxDepth = 16

    init(bytes: UnsafeRawBufferPointer, fail: @escaping (String) -> TensorError) {
        self.bytes = bytes
        self.fail = fail
    }

    /// The dict, then only spaces and newlines (NumPy pads the header with them).
    mutating func parseHeaderDict() throws -> PythonValue {
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else {
            throw fail("header must be a Python dict literal starting with '{', found \(describeHere())")
        }
        let value = try parseValue(depth: 0)
        skipSpace()
        if i < bytes.count, bytes[i] == 0 {
            // Some writers pad with NULs.
            while i < bytes.count, bytes[i] == 0 || isSpace(bytes[i]) { i += 1 }
        }
        guard i == bytes.count else {
            throw syntaxError(expected: "the end of the header after the dict")
        }
        return value
    }

    private mutating func parseValue(depth: Int) throws -> PythonValue {
        skipSpace()
        guard i < bytes.count else { throw syntaxError(expected: "a value") }
        let c = bytes[i]
        switch c {
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "{"), UInt8(ascii: "("), UInt8(ascii: "["):
            guard depth < PythonLiteralParser.maxDepth else {
                throw fail("header is nested more than \(PythonLiteralParser.maxDepth) levels deep")
            }
            i += 1
            if c == UInt8(ascii: "{") { return .dict(try parseDictItems(depth: depth + 1)) }
            let close = c == UInt8(ascii: "(") ? UInt8(ascii: ")") : UInt8(ascii: "]")
            let items = try parseSequenceItems(close: close, depth: depth + 1)
            if c == UInt8(ascii: "(") {
                // `(5)` is just 5 in Python; only `(5,)` is a tuple.
                if items.count == 1, !sawTrailingComma { return items[0] }
                return .tuple(items)
            }
            return .list(items)
        case UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "0") ... UInt8(ascii: "9"):
            return .int(try parseInt())
        default:
            if try parseWord("True") { return .bool(true) }
            if try parseWord("False") { return .bool(false) }
            if try parseWord("None") { return .none }
            throw syntaxError(expected: "a value (a string, an integer, True, False, None, a tuple, a list or a dict)")
        }
    }

    /// Whether the last sequence ended with `, )` (it decides `(5,)` from `(5)`).
    private var sawTrailingComma = false

    private mutating func parseSequenceItems(close: UInt8, depth: Int) throws -> [PythonValue] {
        var items: [PythonValue] = []
        sawTrailingComma = false
        skipSpace()
        if i < bytes.count, bytes[i] == close { i += 1; return items }
        while true {
            let item = try parseValue(depth: depth)
            items.append(item)
            guard items.count <= 4096 else { throw fail("header has a sequence of more than 4096 items") }
            skipSpace()
            guard i < bytes.count else { throw syntaxError(expected: "',' or '\(Character(Unicode.Scalar(close)))'") }
            if bytes[i] == close { i += 1; sawTrailingComma = false; return items }
            guard bytes[i] == UInt8(ascii: ",") else {
                throw syntaxError(expected: "',' or '\(Character(Unicode.Scalar(close)))'")
            }
            i += 1
            skipSpace()
            if i < bytes.count, bytes[i] == close { i += 1; sawTrailingComma = true; return items }
        }
    }

    private mutating func parseDictItems(depth: Int) throws -> [(String, PythonValue)] {
        var items: [(String, PythonValue)] = []
        var keys = Set<String>()
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return items }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "'") || bytes[i] == UInt8(ascii: "\"") else {
                throw syntaxError(expected: "a string key")
            }
            let key = try parseString()
            guard keys.insert(key).inserted else { throw fail("header has the key '\(key)' twice") }
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw syntaxError(expected: "':' after a key") }
            i += 1
            items.append((key, try parseValue(depth: depth)))
            guard items.count <= 4096 else { throw fail("header has a dict of more than 4096 items") }
            skipSpace()
            guard i < bytes.count else { throw syntaxError(expected: "',' or '}'") }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return items }
            guard bytes[i] == UInt8(ascii: ",") else { throw syntaxError(expected: "',' or '}'") }
            i += 1
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return items }
        }
    }

    /// A quoted string; only the escapes `\\`, `\'` and `\"` mean anything in a dtype or a key.
    private mutating func parseString() throws -> String {
        let quote = bytes[i]
        i += 1
        var out: [UInt8] = []
        while true {
            guard i < bytes.count else { throw syntaxError(expected: "a closing quote") }
            let c = bytes[i]
            if c == quote { i += 1; return String(decoding: out, as: UTF8.self) }
            if c == UInt8(ascii: "\n") { throw syntaxError(expected: "a closing quote before the end of the line") }
            if c == UInt8(ascii: "\\") {
                i += 1
                guard i < bytes.count else { throw syntaxError(expected: "an escaped character") }
                out.append(bytes[i])
                i += 1
                continue
            }
            out.append(c)
            guard out.count <= 1024 else { throw fail("header has a string longer than 1024 bytes") }
            i += 1
        }
    }

    /// A decimal integer, with Python 2's `L` suffix allowed (`(3L, 4L)`).
    private mutating func parseInt() throws -> Int {
        var negative = false
        if bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") {
            negative = bytes[i] == UInt8(ascii: "-")
            i += 1
        }
        let start = i
        var value = 0
        var tooLarge = false
        while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
            let digit = Int(bytes[i] - UInt8(ascii: "0"))
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(digit)
            if o1 || o2 { tooLarge = true } else { value = s }
            i += 1
        }
        guard i > start else { throw syntaxError(expected: "a digit") }
        if i < bytes.count, bytes[i] == UInt8(ascii: "L") || bytes[i] == UInt8(ascii: "l") { i += 1 }
        guard !tooLarge else { throw fail("header has an integer too large for 64 bits") }
        return negative ? -value : value
    }

    private mutating func parseWord(_ word: String) throws -> Bool {
        let w = Array(word.utf8)
        guard bytes.count - i >= w.count else { return false }
        for k in 0 ..< w.count where bytes[i + k] != w[k] { return false }
        let after = i + w.count
        if after < bytes.count, isIdentifierByte(bytes[after]) { return false }
        i = after
        return true
    }

    private mutating func skipSpace() {
        while i < bytes.count, isSpace(bytes[i]) { i += 1 }
    }

    private func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

    private func isIdentifierByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_")
    }

    private func describeHere() -> String {
        guard i < bytes.count else { return "the end of the header" }
        return describeBytes(UnsafeRawBufferPointer(rebasing: bytes[i...]), limit: 12)
    }

    private func syntaxError(expected: String) -> TensorError {
        fail("header is not a valid Python literal: expected \(expected) at byte \(i) of the header, found \(describeHere())")
    }
}
