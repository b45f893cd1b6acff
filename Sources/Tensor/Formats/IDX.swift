/// The IDX format of MNIST and Fashion-MNIST (`train-images-idx3-ubyte`, often gzipped):
/// two zero bytes, a type byte, the number of dimensions, each dimension as a big-endian
/// 32-bit integer, then the values, big-endian, row-major.
///
/// Type bytes: 0x08 unsigned byte, 0x09 signed byte, 0x0B int16, 0x0C int32, 0x0D float32,
/// 0x0E float64. The values come back as float32 in a tensor of the file's shape (MNIST's images:
/// 60000x28x28, labels: 60000). A gzipped file is recognized by its content, whatever its name.
/// The data must be exactly what the header describes: a truncated or padded file is an error.
public enum IDX {
    /// Reads an IDX file, gzipped or not.
    public static func read(path: String) throws -> Tensor {
        try read(bytes: readWholeFile(path, format: "idx"), source: path)
    }

    /// Reads an IDX image held in memory, gzipped or not; `source` names it in error messages.
    public static func read(bytes: [UInt8], source: String) throws -> Tensor {
        let fail = { (what: String) in TensorError("idx: \(source): \(what)") }
        return try bytes.withUnsafeBytes { file -> Tensor in
            guard Inflate.isGzip(file) else { return try decode(file, fail: fail) }
            // Decompress the header first, then exactly the size it describes.
            let start = try Inflate.prefix(file, container: .gzip, count: 4, fail: fail)
            var expected = 4
            if start.count == 4 {
                let rank = Int(start[3])
                let header = try Inflate.prefix(file, container: .gzip, count: 4 + 4 * rank, fail: fail)
                let description = try header.withUnsafeBytes { try parseHeader($0, fail: fail, noun: "the decompressed data") }
                expected = description.dataStart + description.dataBytes
                let plausible = Inflate.plausibleSize(compressed: file.count)
                guard expected <= plausible else {
                    throw fail("header describes \(describeShape(description.shape)) values, \(expected) bytes, "
                        + "more than \(file.count) compressed bytes can hold (corrupt or truncated file?)")
                }
            }
            let data = try Inflate.decompress(file, container: .gzip, limit: expected, fail: fail)
            return try data.withUnsafeBytes { try decode($0, fail: fail, noun: "the decompressed data") }
        }
    }

    private struct Description {
        var scalar: StoredScalar
        var shape: [Int]
        var count: Int
        var dataStart: Int
        var dataBytes: Int
    }

    private static func typeName(_ code: UInt8) -> String? {
        switch code {
        case 0x08: return "unsigned byte"
        case 0x09: return "signed byte"
        case 0x0B: return "int16"
        case 0x0C: return "int32"
        case 0x0D: return "float32"
        case 0x0E: return "float64"
        default: return nil
        }
    }

    /// The header, checked against nothing but itself: types, dimensions, sizes.
    private static func parseHeader(_ file: UnsafeRawBufferPointer, fail: (String) -> TensorError,
                                    noun: String = "the file") throws -> Description {
        guard file.count >= 4 else {
            throw fail("\(noun) is \(file.count) bytes, too short for the 4-byte IDX magic number (truncated file?)")
        }
        guard file[0] == 0, file[1] == 0 else {
            throw fail("not an IDX file: it starts with \(describeBytes(file, limit: 4)), expected two zero bytes, "
                + "a type byte and a dimension count")
        }
        let scalar: StoredScalar
        switch file[2] {
        case 0x08: scalar = .u8
        case 0x09: scalar = .i8
        case 0x0B: scalar = .i16
        case 0x0C: scalar = .i32
        case 0x0D: scalar = .f32
        case 0x0E: scalar = .f64
        default:
            throw fail("unknown IDX type byte 0x\(hexByte(file[2])) (expected 0x08 unsigned byte, 0x09 signed byte, "
                + "0x0B int16, 0x0C int32, 0x0D float32 or 0x0E float64)")
        }
        let rank = Int(file[3])
        let dataStart = 4 + 4 * rank
        guard file.count >= dataStart else {
            throw fail("header declares \(rank) dimensions, \(dataStart) bytes of header, but \(noun) has "
                + "\(file.count) bytes (truncated file?)")
        }
        let r = ByteReader(bytes: file, bigEndian: true)
        let shape = (0 ..< rank).map { Int(r.u32(4 + 4 * $0)) }
        guard let count = elementCount(shape) else {
            throw fail("shape \(describeShape(shape)) is too large (at most \(maxTensorElements) elements)")
        }
        let (dataBytes, overflow) = count.multipliedReportingOverflow(by: scalar.size)
        guard !overflow else {
            throw fail("shape \(describeShape(shape)) is too large")
        }
        return Description(scalar: scalar, shape: shape, count: count, dataStart: dataStart, dataBytes: dataBytes)
    }

    private static func decode(_ file: UnsafeRawBufferPointer, fail: (String) -> TensorError,
                               noun: String = "the file") throws -> Tensor {
        let d = try parseHeader(file, fail: fail, noun: noun)
        let available = file.count - d.dataStart
        let type = typeName(file[2]) ?? "?"
        guard available >= d.dataBytes else {
            throw fail("\(describeShape(d.shape)) \(type) values need \(d.dataBytes) bytes after the header, "
                + "\(noun) has \(available) (truncated file?)")
        }
        guard available == d.dataBytes else {
            throw fail("\(describeShape(d.shape)) \(type) values need \(d.dataBytes) bytes after the header, "
                + "\(noun) has \(available): \(available - d.dataBytes) bytes too many (wrong header?)")
        }
        let raw = UnsafeRawBufferPointer(rebasing: file[d.dataStart ..< d.dataStart + d.dataBytes])
        return Tensor(uncheckedShape: d.shape, storage: d.scalar.convert(raw, count: d.count, bigEndian: true))
    }
}
