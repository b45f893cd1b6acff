/// One array from a single-array file, chosen by the file's name (`smia.io.read_array`):
///
/// | name | format |
/// | --- | --- |
/// | `*.npy` | NumPy array (`NPY`) |
/// | `*.nii`, `*.nii.gz` | NIfTI-1 volume, scaled, as (Z, Y, X) (`NIfTI`) |
/// | `*-ubyte`, `*.idx`, names containing `-idx` (`train-images-idx3-ubyte`), each also `.gz` | IDX (`IDX`) |
/// | `*.dcm`, `*.dicom`, or any other name whose file has DICOM's "DICM" signature | DICOM, rescaled, as (frames, rows, columns[, 3]) (`DICOM`) |
///
/// Names are compared without regard to case. `.npz` holds several arrays: it is refused here
/// with a pointer to `NPZ.read`.
public enum ArrayFile {
    public static let supported = ".npy, .nii, .nii.gz, IDX files (-ubyte, .idx, or a name containing -idx, "
        + "each optionally gzipped: .gz), and DICOM (.dcm, .dicom, or any file with the DICM signature)"

    public enum Kind: Equatable {
        case npy, nifti, idx, dicom
    }

    /// The format that `read` will use for `path`, or nil when the name says nothing known.
    public static func kind(of path: String) -> Kind? {
        let name = String(path.split(separator: "/", omittingEmptySubsequences: false).last ?? "").lowercased()
        if name.hasSuffix(".npy") { return .npy }
        if name.hasSuffix(".nii") || name.hasSuffix(".nii.gz") { return .nifti }
        if name.hasSuffix(".dcm") || name.hasSuffix(".dicom") { return .dicom }
        let base = name.hasSuffix(".gz") ? String(name.dropLast(3)) : name
        if base.hasSuffix("-ubyte") || base.hasSuffix(".idx") || base.contains("-idx") { return .idx }
        return nil
    }

    /// Reads the one array of a `.npy`, NIfTI-1 or IDX file as float32.
    public static func read(path: String) throws -> Tensor {
        switch kind(of: path) {
        case .npy: return try NPY.read(path: path)
        case .nifti: return try NIfTI.read(path: path)
        case .idx: return try IDX.read(path: path)
        case .dicom: return try DICOM.readArray(path: path)
        case nil:
            if path.lowercased().hasSuffix(".npz") {
                throw TensorError("read_array: '\(path)' is an .npz archive, which holds several arrays; "
                    + "read it with NPZ.read (smia.io.load) instead")
            }
            if let bytes = try? readWholeFile(path, format: "read_array"), bytes.withUnsafeBytes(DICOM.hasSignature) {
                return try DICOM.readArray(bytes: bytes, source: path)
            }
            throw TensorError("read_array: cannot tell the format of '\(path)' from its name (supported: \(supported))")
        }
    }
}
