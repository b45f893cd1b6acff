import CDICOM

/// DICOM files, the format clinical scans come in (CT, MR, X-ray, ...), read through GDCM
/// (Debian's `libgdcm-dev`, behind the C functions of `Sources/CDICOM`). Every transfer syntax
/// GDCM decodes is read: uncompressed (little and big endian, explicit and implicit VR,
/// deflated), RLE, JPEG baseline, extended (12-bit) and lossless, JPEG-LS, JPEG 2000.
///
/// - `readArray`: the stored values as float32 with Rescale Slope and Intercept applied (CT in
///   Hounsfield units), shape (frames, rows, columns) for one sample per pixel and (frames, rows,
///   columns, 3) for colour; `smia.io.read_array`.
/// - `readImage`: one frame as C×H×W in [0, 1] through a display window (`Window`);
///   `smia.image.read` and the file datasets.
///
/// Colour comes back as RGB: YBR_FULL and YBR_FULL_422 are converted as pydicom converts them,
/// and JPEG 2000's YBR_RCT and YBR_ICT are undone by the decoder. Palette indices (PALETTE
/// COLOR) are read by `readArray` as the stored indices; `readImage` refuses them, as it does
/// other colour spaces. Rescale applies to one-sample images; Modality and VOI LUT sequences are
/// not applied. Sizes are checked (the central element limit, `elementCount`; and for compressed
/// data, at most 2000 times its size beyond 64 MiB, in `Sources/CDICOM`) before anything of the
/// image's size is allocated.
public enum DICOM {
    /// How `readImage` maps values to [0, 1]: `(x - (center - width/2)) / width`, clipped, as
    /// `Tensor.window`; for MONOCHROME1 (where low values are bright) the result is inverted.
    public enum Window: Equatable {
        /// The file's own window (its first Window Center and Width), else `.range`.
        case automatic
        /// The file's own window; an error when it has none.
        case file
        /// The range of the stored bit depth, rescaled: 0...255 for 8 bits (as PNG), 0...4095 for
        /// 12 bits stored, -32768...32767 for 16 bits signed (with slope and intercept applied).
        case range
        /// The image's own minimum and maximum (a constant image gives 0).
        case minmax
        case explicit(center: Double, width: Double)
    }

    /// A decoded file: values in frame, row, column, sample order.
    public struct Image {
        public let frames: Int
        public let rows: Int
        public let columns: Int
        /// 1 (gray, or palette indices) or 3 (RGB).
        public let samples: Int
        public let values: [Float]
        public let photometric: String
        /// The file's first VOI window, when it gives a usable one (a positive width).
        public let window: (center: Double, width: Double)?
        /// The range of the stored bit depth after rescaling (low ≤ high).
        public let storedRange: (low: Double, high: Double)
    }

    /// True when `bytes` start as a DICOM file does: a 128-byte preamble, then "DICM".
    public static func hasSignature(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 132 && bytes[128] == 0x44 && bytes[129] == 0x49 && bytes[130] == 0x43 && bytes[131] == 0x4D
    }

    /// The stored values, rescaled: (frames, rows, columns), or (frames, rows, columns, 3) for colour.
    public static func readArray(path: String) throws -> Tensor {
        try readArray(bytes: readWholeFile(path, format: "dicom"), source: path)
    }

    /// `readArray` of a file held in memory; `source` names it in error messages.
    public static func readArray(bytes: [UInt8], source: String) throws -> Tensor {
        let image = try read(bytes: bytes, source: source)
        let shape = image.samples == 1 ? [image.frames, image.rows, image.columns]
            : [image.frames, image.rows, image.columns, image.samples]
        return Tensor(uncheckedShape: shape, storage: image.values)
    }

    /// Frame `frame` (0-based; nil: the only frame) as C×H×W in [0, 1] through `window`.
    public static func readImage(path: String, window: Window = .automatic, frame: Int? = nil) throws -> Tensor {
        try readImage(bytes: readWholeFile(path, format: "dicom"), source: path, window: window, frame: frame)
    }

    /// `readImage` of a file held in memory; `source` names it in error messages.
    public static func readImage(bytes: [UInt8], source: String, window: Window = .automatic,
                                 frame: Int? = nil) throws -> Tensor {
        let image = try read(bytes: bytes, source: source)
        let fail = { (what: String) in TensorError("dicom: \(source): \(what)") }
        guard image.photometric.hasPrefix("MONOCHROME") || image.photometric == "RGB" else {
            throw fail("\(image.photometric) images cannot be shown as an image (expected MONOCHROME1, MONOCHROME2 "
                + "or a colour image); smia.io.read_array gives the stored values")
        }
        let index: Int
        if let frame {
            guard frame >= 0, frame < image.frames else {
                throw fail("frame \(frame + 1) out of range (the file has \(image.frames) frame\(image.frames == 1 ? "" : "s"))")
            }
            index = frame
        } else {
            guard image.frames == 1 else {
                throw fail("the file holds \(image.frames) frames; choose one (frame = 1...\(image.frames)), "
                    + "or read them all with smia.io.read_array")
            }
            index = 0
        }
        let plane = image.rows * image.columns
        let c = image.samples
        let pixels = image.values[index * plane * c ..< (index + 1) * plane * c]
        var planar = [Float](repeating: 0, count: plane * c)
        for p in 0 ..< plane {
            for s in 0 ..< c { planar[s * plane + p] = pixels[pixels.startIndex + p * c + s] }
        }
        let (center, width) = try windowBounds(window, image, Array(pixels), fail: fail)
        var shown = try Tensor(uncheckedShape: [c, image.rows, image.columns], storage: planar)
            .window(center: Float(center), width: Float(width))
        if image.photometric == "MONOCHROME1" {
            shown = Tensor(uncheckedShape: shown.shape, storage: shown.storage.map { 1 - $0 })
        }
        return shown
    }

    /// Reads and decodes a DICOM file.
    public static func read(path: String) throws -> Image {
        try read(bytes: readWholeFile(path, format: "dicom"), source: path)
    }

    /// Decodes a DICOM file held in memory; `source` names it in error messages.
    public static func read(bytes: [UInt8], source: String) throws -> Image {
        let fail = { (what: String) in TensorError("dicom: \(source): \(what)") }
        guard !bytes.isEmpty else { throw fail("the file is empty") }
        var message = [CChar](repeating: 0, count: 1024)
        return try bytes.withUnsafeBytes { file -> Image in
            guard let handle = smia_dicom_open(file.baseAddress, file.count, &message, message.count) else {
                throw fail(text(message))
            }
            defer { smia_dicom_close(handle) }
            var info = smia_dicom_info()
            smia_dicom_get_info(handle, &info)
            let layout = try Layout(info, fail: fail)
            // Allocated only now that the sizes are checked.
            var decoded = [UInt8](repeating: 0, count: layout.decodedBytes)
            let status = decoded.withUnsafeMutableBytes {
                smia_dicom_decode(handle, $0.baseAddress, $0.count, &message, message.count)
            }
            guard status == 0 else { throw fail(text(message)) }
            return try decoded.withUnsafeBytes { try image(from: $0, layout, info, fail: fail) }
        }
    }

    // MARK: - Layout and conversion

    /// The checked sizes of a file's image and the scalar type of its decoded samples.
    private struct Layout {
        var frames, rows, columns, samples: Int
        var count: Int
        var bitsAllocated: Int
        var scalar: StoredScalar?  // nil for 1-bit data
        var decodedBytes: Int
        var photometric: String

        init(_ info: smia_dicom_info, fail: (String) -> TensorError) throws {
            frames = Int(info.frames)
            rows = Int(info.rows)
            columns = Int(info.columns)
            samples = Int(info.samples_per_pixel)
            bitsAllocated = Int(info.bits_allocated)
            photometric = DICOM.text(info.photometric)
            let what = "\(rows)x\(columns) pixels x \(frames) frame\(frames == 1 ? "" : "s") x \(samples) sample\(samples == 1 ? "" : "s")"
            guard rows >= 1, columns >= 1, frames >= 1 else { throw fail("the image has no pixels (\(what))") }
            guard samples == 1 || samples == 3 else {
                throw fail("\(samples) samples per pixel are not supported (expected 1 for gray or 3 for colour)")
            }
            guard let n = elementCount([frames, rows, columns, samples]) else {
                throw fail("the image is too large: \(what) (at most \(maxTensorElements) values)")
            }
            count = n
            let signed = info.is_signed != 0
            switch bitsAllocated {
            case 1:
                guard samples == 1, columns % 8 == 0 else {
                    throw fail("1-bit images are supported with one sample and a width that is a multiple of 8 (got \(what))")
                }
                scalar = nil
                decodedBytes = n / 8
            case 8: scalar = signed ? .i8 : .u8; decodedBytes = n
            case 16: scalar = signed ? .i16 : .u16; decodedBytes = 2 * n
            case 32: scalar = signed ? .i32 : .u32; decodedBytes = 4 * n
            default:
                throw fail("\(bitsAllocated) bits allocated per sample are not supported (expected 1, 8, 16 or 32)")
            }
            guard UInt64(decodedBytes) == info.decoded_bytes else {
                throw fail("GDCM decodes \(info.decoded_bytes) bytes, but \(what) of \(bitsAllocated) bits need "
                    + "\(decodedBytes) (inconsistent image attributes)")
            }
            if samples == 3 {
                guard ["RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT"].contains(photometric) else {
                    throw fail("colour images in \(photometric) are not supported (expected RGB, YBR_FULL, YBR_FULL_422, "
                        + "or JPEG 2000's YBR_RCT or YBR_ICT)")
                }
                guard photometric == "RGB" || bitsAllocated == 8 else {
                    throw fail("\(photometric) images of \(bitsAllocated) bits are not supported (expected 8 bits)")
                }
            }
        }
    }

    private static func image(from raw: UnsafeRawBufferPointer, _ layout: Layout, _ info: smia_dicom_info,
                              fail: (String) -> TensorError) throws -> Image {
        let nativeBigEndian = UInt16(1).bigEndian == 1
        var values: [Float]
        if let scalar = layout.scalar {
            let rescale = layout.samples == 1
            values = scalar.convert(raw, count: layout.count, bigEndian: nativeBigEndian,
                                    slope: rescale ? info.slope : 1, intercept: rescale ? info.intercept : 0)
        } else {
            // DICOM packs 1-bit pixels from the least significant bit of each byte.
            values = (0 ..< layout.count).map { k in Float((raw[k >> 3] >> UInt8(k & 7)) & 1) }
        }
        var photometric = layout.photometric
        if photometric.hasPrefix("YBR") {
            if photometric == "YBR_FULL" || photometric == "YBR_FULL_422" { convertYBRFullToRGB(&values) }
            photometric = "RGB"  // YBR_RCT and YBR_ICT: the JPEG 2000 decoder has undone the transform
        }
        var window: (center: Double, width: Double)? = nil
        if info.has_window != 0, info.window_center.isFinite, info.window_width.isFinite, info.window_width > 0 {
            window = (info.window_center, info.window_width)
        }
        return Image(frames: layout.frames, rows: layout.rows, columns: layout.columns, samples: layout.samples,
                     values: values, photometric: photometric, window: window,
                     storedRange: storedRange(info, layout, photometric: photometric))
    }

    /// The values the stored bits can hold, rescaled.
    private static func storedRange(_ info: smia_dicom_info, _ layout: Layout, photometric: String) -> (low: Double, high: Double) {
        let bits = Double(min(max(Int(info.bits_stored), 1), layout.bitsAllocated == 1 ? 1 : min(layout.bitsAllocated, 32)))
        var low = 0.0, high = pow2(bits) - 1
        if info.is_signed != 0 && layout.bitsAllocated > 1 {
            low = -pow2(bits - 1)
            high = pow2(bits - 1) - 1
        }
        if layout.samples == 1 {
            low = low * info.slope + info.intercept
            high = high * info.slope + info.intercept
        }
        return low <= high ? (low, high) : (high, low)
    }

    private static func pow2(_ e: Double) -> Double {
        var v = 1.0
        for _ in 0 ..< Int(e) { v *= 2 }
        return v
    }

    /// YBR_FULL to RGB (DICOM PS3.3 C.7.6.3.1.2), in float32 and rounded as pydicom does.
    private static func convertYBRFullToRGB(_ values: inout [Float]) {
        let cbToG: Float = -0.114 * 1.772 / 0.587
        let crToG: Float = -0.299 * 1.402 / 0.587
        for p in stride(from: 0, to: values.count - 2, by: 3) {
            let y = values[p], cb = values[p + 1] - 128, cr = values[p + 2] - 128
            let rgb = [y + 1.402 * cr, y + cbToG * cb + crToG * cr, y + 1.772 * cb]
            for s in 0 ..< 3 { values[p + s] = min(max((rgb[s] + 0.5).rounded(.down), 0), 255) }
        }
    }

    private static func windowBounds(_ window: Window, _ image: Image, _ pixels: [Float],
                                     fail: (String) -> TensorError) throws -> (Double, Double) {
        func span(_ low: Double, _ high: Double) -> (Double, Double) {
            high > low ? ((low + high) / 2, high - low) : (low + 0.5, 1)
        }
        switch window {
        case .explicit(let center, let width):
            return (center, width)
        case .file:
            guard let w = image.window else {
                throw fail("the file gives no window (Window Center and Width); give window = {center =, width =}, "
                    + "\"range\" or \"minmax\"")
            }
            return w
        case .automatic:
            if let w = image.window { return w }
            return span(image.storedRange.low, image.storedRange.high)
        case .range:
            return span(image.storedRange.low, image.storedRange.high)
        case .minmax:
            let finite = pixels.filter(\.isFinite)
            return span(Double(finite.min() ?? 0), Double(finite.max() ?? 0))
        }
    }

    private static func text<T>(_ chars: T) -> String {
        withUnsafeBytes(of: chars) { bytes in
            String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    private static func text(_ chars: [CChar]) -> String {
        String(decoding: chars.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
