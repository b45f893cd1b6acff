/// NIfTI-1 single-file volumes (`.nii`, and `.nii.gz` recognized by content): a 348-byte header
/// in either byte order (told apart by `sizeof_hdr`, which is 348), the magic `n+1`, then the
/// voxels from `vox_offset`, x fastest.
///
/// The volume comes back as float32 of shape (Z, Y, X), the row-major view of the stored order,
/// with `scl_slope` and `scl_inter` applied (a slope of 0, or one that is not finite, means no
/// scaling, as in NiBabel). The voxels are not reoriented: index them as they are stored.
/// Data types: uint8, int8, int16, uint16, int32, uint32, int64, uint64, float32, float64.
/// Dimensions beyond the third must be 1 (a time series is refused with a message that says
/// so); a 2-D image comes back as 1xYxX.
public enum NIfTI {
    /// Reads a `.nii` or `.nii.gz` volume as float32 of shape (Z, Y, X), scaled.
    public static func read(path: String) throws -> Tensor {
        try read(bytes: readWholeFile(path, format: "nifti"), source: path)
    }

    /// Reads a NIfTI-1 image held in memory, gzipped or not; `source` names it in error messages.
    public static func read(bytes: [UInt8], source: String) throws -> Tensor {
        let fail = { (what: String) in TensorError("nifti: \(source): \(what)") }
        return try bytes.withUnsafeBytes { file -> Tensor in
            guard Inflate.isGzip(file) else { return try decode(file, fail: fail) }
            let head = try Inflate.prefix(file, container: .gzip, count: headerSize, fail: fail)
            let header = try head.withUnsafeBytes { try parseHeader($0, fail: fail, noun: "the decompressed data") }
            let needed = header.dataOffset + header.dataBytes
            guard needed <= Inflate.plausibleSize(compressed: file.count) else {
                throw fail("header describes \(header.dataBytes) bytes of voxels from byte \(header.dataOffset), "
                    + "more than \(file.count) compressed bytes can hold (corrupt or truncated file?)")
            }
            // Some writers leave bytes after the voxels; accept a little, never without bound.
            let data = try Inflate.decompress(file, container: .gzip, limit: needed + (1 << 20), fail: fail)
            return try data.withUnsafeBytes { try decode($0, fail: fail, noun: "the decompressed data") }
        }
    }

    /// The 2-D slices of a (Z, Y, X) volume along `axis` (0-based): axis 0 gives Z slices of
    /// shape (Y, X), axis 1 gives Y slices of shape (Z, X), axis 2 gives X slices of shape (Z, Y).
    public static func slices(_ volume: Tensor, axis: Int) throws -> [Tensor] {
        guard volume.rank == 3 else {
            throw TensorError("NIfTI.slices: expected a volume of rank 3 (Z, Y, X), got size \(describeShape(volume.shape))")
        }
        guard (0 ..< 3).contains(axis) else {
            throw TensorError("NIfTI.slices: axis must be 0, 1 or 2 (Z, Y or X), got \(axis)")
        }
        let (nz, ny, nx) = (volume.shape[0], volume.shape[1], volume.shape[2])
        let v = volume.storage
        switch axis {
        case 0:
            return (0 ..< nz).map { z in
                Tensor(uncheckedShape: [ny, nx], storage: Array(v[z * ny * nx ..< (z + 1) * ny * nx]))
            }
        case 1:
            return (0 ..< ny).map { y in
                var out: [Float] = []
                out.reserveCapacity(nz * nx)
                for z in 0 ..< nz { out.append(contentsOf: v[(z * ny + y) * nx ..< (z * ny + y + 1) * nx]) }
                return Tensor(uncheckedShape: [nz, nx], storage: out)
            }
        default:
            return (0 ..< nx).map { x in
                var out: [Float] = []
                out.reserveCapacity(nz * ny)
                for z in 0 ..< nz {
                    for y in 0 ..< ny { out.append(v[(z * ny + y) * nx + x]) }
                }
                return Tensor(uncheckedShape: [nz, ny], storage: out)
            }
        }
    }

    static let headerSize = 348

    private struct Header {
        var bigEndian: Bool
        var scalar: StoredScalar
        var shape: [Int]  // (Z, Y, X)
        var count: Int
        var dataOffset: Int
        var dataBytes: Int
        var slope: Double
        var intercept: Double
    }

    private static func typeName(_ code: Int16) -> String {
        switch code {
        case 1: return "binary"
        case 32: return "complex64"
        case 128: return "RGB24"
        case 1536: return "float128"
        case 1792: return "complex128"
        case 2048: return "complex256"
        case 2304: return "RGBA32"
        default: return "unknown"
        }
    }

    private static func parseHeader(_ file: UnsafeRawBufferPointer, fail: (String) -> TensorError,
                                    noun: String = "the file") throws -> Header {
        guard file.count >= 4 else {
            throw fail("\(noun) is \(file.count) bytes, too short for a NIfTI-1 header (348 bytes; truncated file?)")
        }
        let little = ByteReader(bytes: file, bigEndian: false)
        let bigEndian: Bool
        switch (little.i32(0), ByteReader(bytes: file, bigEndian: true).i32(0)) {
        case (348, _): bigEndian = false
        case (_, 348): bigEndian = true
        case (540, _), (_, 540):
            throw fail("this is a NIfTI-2 file (sizeof_hdr 540); only NIfTI-1 is supported")
        default:
            throw fail("not a NIfTI-1 file: sizeof_hdr is \(little.i32(0)) (expected 348 in either byte order; "
                + "it starts with \(describeBytes(file, limit: 4)))")
        }
        guard file.count >= headerSize else {
            throw fail("\(noun) is \(file.count) bytes, too short for the 348-byte NIfTI-1 header (truncated file?)")
        }
        let r = ByteReader(bytes: file, bigEndian: bigEndian)
        let magic = (file[344], file[345], file[346], file[347])
        let n = UInt8(ascii: "n"), i = UInt8(ascii: "i"), one = UInt8(ascii: "1"), plus = UInt8(ascii: "+")
        if magic.0 == n, magic.1 == i, magic.2 == one, magic.3 == 0 {
            throw fail("this is the header of a NIfTI-1 pair (magic 'ni1': the voxels are in a separate .img file); "
                + "only single-file .nii volumes are supported (convert it, e.g. with nibabel, to .nii)")
        }
        guard magic.0 == n, magic.1 == plus, magic.2 == one, magic.3 == 0 else {
            let found = describeBytes(UnsafeRawBufferPointer(rebasing: file[344 ..< 348]), limit: 4)
            throw fail("no NIfTI-1 magic: bytes 344-347 are \(found), expected 'n+1\\x00' "
                + "(an Analyze 7.5 file, or a corrupt one?)")
        }

        let rank = Int(r.i16(40))
        guard (1 ... 7).contains(rank) else {
            throw fail("dim[0] (the number of dimensions) is \(rank), expected 1 to 7")
        }
        var dims: [Int] = []
        for k in 1 ... rank {
            let d = Int(r.i16(40 + 2 * k))
            guard d >= 1 else { throw fail("dim[\(k)] is \(d), expected a size of at least 1") }
            dims.append(d)
        }
        for k in dims.indices where k >= 3 && dims[k] != 1 {
            let what = k == 3 ? "a time series or multi-volume file" : "a file with more than 4 dimensions"
            throw fail("dim[\(k + 1)] is \(dims[k]): this is \(what); only single 3-D volumes are supported "
                + "(dims \(dims.map(String.init).joined(separator: "x")))")
        }
        while dims.count < 3 { dims.append(1) }
        let shape = [dims[2], dims[1], dims[0]]

        let code = r.i16(70)
        let scalar: StoredScalar
        switch code {
        case 2: scalar = .u8
        case 4: scalar = .i16
        case 8: scalar = .i32
        case 16: scalar = .f32
        case 64: scalar = .f64
        case 256: scalar = .i8
        case 512: scalar = .u16
        case 768: scalar = .u32
        case 1024: scalar = .i64
        case 1280: scalar = .u64
        default:
            throw fail("datatype \(code) (\(typeName(code))) is not supported (expected uint8 2, int16 4, int32 8, "
                + "float32 16, float64 64, int8 256, uint16 512, uint32 768, int64 1024 or uint64 1280)")
        }

        let voxOffset = r.f32(108)
        guard voxOffset.isFinite, voxOffset >= 0, voxOffset == voxOffset.rounded(), voxOffset < 0x1p40 else {
            throw fail("vox_offset is \(voxOffset), expected a whole number of bytes at least 352")
        }
        var dataOffset = Int(voxOffset)
        if dataOffset == 0 { dataOffset = 352 }  // as NiBabel reads single files written with 0
        guard dataOffset >= headerSize else {
            throw fail("vox_offset is \(dataOffset), inside the 348-byte header (expected at least 352)")
        }

        guard let count = elementCount(shape) else {
            throw fail("dimensions \(dims[0])x\(dims[1])x\(dims[2]) are too large")
        }
        var slope = Double(r.f32(112)), intercept = Double(r.f32(116))
        if slope == 0 || !slope.isFinite {
            slope = 1
            intercept = 0
        } else if !intercept.isFinite {
            intercept = 0
        }
        return Header(bigEndian: bigEndian, scalar: scalar, shape: shape, count: count, dataOffset: dataOffset,
                      dataBytes: count * scalar.size, slope: slope, intercept: intercept)
    }

    private static func decode(_ file: UnsafeRawBufferPointer, fail: (String) -> TensorError,
                               noun: String = "the file") throws -> Tensor {
        let h = try parseHeader(file, fail: fail, noun: noun)
        guard h.dataOffset <= file.count, h.dataBytes <= file.count - h.dataOffset else {
            throw fail("\(h.shape[2])x\(h.shape[1])x\(h.shape[0]) voxels need \(h.dataBytes) bytes from byte "
                + "\(h.dataOffset) (vox_offset), \(noun) has \(file.count) bytes (truncated file?)")
        }
        let raw = UnsafeRawBufferPointer(rebasing: file[h.dataOffset ..< h.dataOffset + h.dataBytes])
        let values = h.scalar.convert(raw, count: h.count, bigEndian: h.bigEndian, slope: h.slope, intercept: h.intercept)
        return Tensor(uncheckedShape: h.shape, storage: values)
    }
}

extension Tensor {
    /// Display windowing, as for CT in Hounsfield units (lung: center -600, width 1500; soft
    /// tissue: 40, 400; bone: 400, 1800): `(x - (center - width/2)) / width` clipped to [0, 1].
    /// A new tensor without history (gradients do not flow through it); NaN stays NaN.
    public func window(center: Float, width: Float) throws -> Tensor {
        guard center.isFinite else { throw TensorError("window: center must be a finite number, got \(center)") }
        guard width.isFinite, width > 0 else { throw TensorError("window: width must be a positive number, got \(width)") }
        let low = center - width / 2
        let scale = 1 / width
        let values = storage.map { x -> Float in
            if x.isNaN { return x }
            return Swift.min(Swift.max((x - low) * scale, 0), 1)
        }
        return Tensor(uncheckedShape: shape, storage: values)
    }
}
