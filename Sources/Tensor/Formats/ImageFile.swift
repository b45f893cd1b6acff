/// The image files that `smia.image.read` and the file datasets read: PNG (`PNGImage`) and
/// DICOM (`DICOM`). The name tells which (`.png`; `.dcm`, `.dicom`), and for any other name
/// the first bytes do (PNG's signature; DICOM's "DICM" after the 128-byte preamble).
public enum ImageFile {
    public enum Format: Equatable {
        case png, dicom
    }

    public static let supported = "PNG (.png) or DICOM (.dcm, .dicom)"

    /// The format a file's name gives, or nil.
    public static func format(ofName path: String) -> Format? {
        let name = path.lowercased()
        if name.hasSuffix(".png") { return .png }
        if name.hasSuffix(".dcm") || name.hasSuffix(".dicom") { return .dicom }
        return nil
    }

    /// Reads an image as C×H×W in [0, 1]. `window` and `frame` (0-based) apply to DICOM files;
    /// giving them for a PNG file is an error.
    public static func read(path: String, window: DICOM.Window? = nil, frame: Int? = nil) throws -> Tensor {
        let named = format(ofName: path)
        let bytes = try readWholeFile(path, format: named == .png ? "png" : named == .dicom ? "dicom" : "image")
        let format = try named ?? bytes.withUnsafeBytes { head -> Format in
            if head.starts(with: pngSignature) { return .png }
            if DICOM.hasSignature(head) { return .dicom }
            throw TensorError("image: cannot tell the format of '\(path)': neither its name nor its first bytes "
                + "(\(describeBytes(head))) say \(supported)")
        }
        switch format {
        case .dicom:
            return try DICOM.readImage(bytes: bytes, source: path, window: window ?? .automatic, frame: frame)
        case .png:
            guard window == nil, frame == nil else {
                throw TensorError("png: \(path): the options window and frame apply to DICOM files, not to PNG images")
            }
            return try PNGImage.read(bytes: bytes, source: path)
        }
    }

    private static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
}
