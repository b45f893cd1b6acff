import CPNG

/// PNG images through libpng's simplified API (`png_image_*`), the only libpng API this engine
/// calls: it keeps libpng's setjmp/longjmp error handling inside libpng, where Swift frames
/// never see it (DESIGN.md, boundary rule 5).
///
/// Reading gives the values as stored, as PIL and torchvision do: the colour-space chunks
/// (`gAMA`, `sRGB`, `iCCP`, `cHRM`) are dropped before libpng sees the file, so that the
/// simplified API has no gamma conversion to make. Images come back as C×H×W float32 in [0, 1]
/// (8-bit values / 255, 16-bit values / 65535; 1, 2 and 4-bit gray scaled to the full range):
/// C = 1 for gray and gray+alpha, 3 for RGB, RGBA and palette images. Alpha is dropped. (For
/// 16-bit images with alpha, libpng returns colour premultiplied by alpha; it is divided back
/// out, exactly where alpha is opaque, and transparent pixels come back black.)
///
/// Label masks (`readLabels`) come back as H×W float32 of the stored integers: gray values
/// (8 or 16-bit, or 1, 2, 4-bit), palette indices (not colours), or the gray level of an RGB
/// mask whose three channels agree everywhere.
///
/// Writing is 8-bit, gray or RGB, atomic (a temporary file, then rename).
public enum PNGImage {
    /// Larger images are refused before any allocation (PIL refuses about 179 million pixels).
    public static let maxPixels = 1 << 28

    /// Reads a PNG as C×H×W float32 in [0, 1].
    public static func read(path: String) throws -> Tensor {
        try read(bytes: readWholeFile(path, format: "png"), source: path)
    }

    /// Reads a PNG held in memory; `source` names it in error messages.
    public static func read(bytes: [UInt8], source: String) throws -> Tensor {
        try decodeImage(bytes, labels: false) { TensorError("png: \(source): \($0)") }
    }

    /// Reads a label mask as H×W float32 of its stored integer values.
    public static func readLabels(path: String) throws -> Tensor {
        try readLabels(bytes: readWholeFile(path, format: "png"), source: path)
    }

    /// Reads a label mask held in memory; `source` names it in error messages.
    public static func readLabels(bytes: [UInt8], source: String) throws -> Tensor {
        try decodeImage(bytes, labels: true) { TensorError("png: \(source): labels: \($0)") }
    }

    /// Writes C×H×W (C = 1 or 3), 1×C×H×W or H×W values, clamped to [0, 1], as an 8-bit PNG,
    /// or with `bits` 16 a 16-bit one (values × 65535: steps of 1/65535, so that a perturbation
    /// of 0.5/255 survives; `read` gives the values back within 0.5/65535).
    public static func write(path: String, tensor: Tensor, bits: Int = 8) throws {
        let bytes = try encodeImage(tensor, bits: bits, context: "png: \(path): ")
        try writeAtomically(bytes, to: path, format: "png")
    }

    /// The bytes `write` puts in the file.
    public static func encode(_ tensor: Tensor, bits: Int = 8) throws -> [UInt8] {
        try encodeImage(tensor, bits: bits, context: "png: ")
    }

    /// Writes an H×W (or 1×H×W) tensor of integers in 0...255 as an 8-bit gray PNG.
    public static func writeLabels(path: String, labels: Tensor) throws {
        let bytes = try encodeLabelImage(labels, context: "png: \(path): ")
        try writeAtomically(bytes, to: path, format: "png")
    }

    /// The bytes `writeLabels` puts in the file.
    public static func encodeLabels(_ labels: Tensor) throws -> [UInt8] {
        try encodeLabelImage(labels, context: "png: ")
    }
}

// MARK: - Reading

/// What the chunk walk learns before libpng sees the file.
private struct ChunkSummary {
    var width = 0
    var height = 0
    var bitDepth = 0
    var colorType = 0
    /// Compressed image data present in the file (the IDAT chunks, as much of them as is there).
    var imageDataBytes = 0
    /// Byte ranges of the chunks to drop (colour-space information).
    var dropped: [Range<Int>] = []
}

private let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

private func chunkType(_ file: UnsafeRawBufferPointer, _ at: Int) -> String {
    describeBytes(UnsafeRawBufferPointer(rebasing: file[at ..< at + 4]), limit: 4)
}

/// Walks the chunks: checks the signature and IHDR, adds up the IDAT sizes, and marks the
/// colour-space chunks to drop. A damaged chunk list ends the walk; libpng reports the damage.
private func summarize(_ file: UnsafeRawBufferPointer, fail: (String) -> TensorError) throws -> ChunkSummary {
    guard file.count >= 8, file.prefix(8).elementsEqual(pngSignature) else {
        throw fail("not a PNG file: it starts with \(describeBytes(file)), expected the PNG signature '\\x89PNG\\r\\n\\x1a\\n'")
    }
    let r = ByteReader(bytes: file, bigEndian: true)
    guard file.count >= 33 else {
        throw fail("file is \(file.count) bytes, too short for the PNG signature and IHDR chunk (33 bytes; truncated file?)")
    }
    guard r.u32(8) == 13, file[12 ..< 16].elementsEqual(Array("IHDR".utf8)) else {
        throw fail("the first chunk must be a 13-byte IHDR, found \(chunkType(file, 12)) of \(r.u32(8)) bytes")
    }
    var s = ChunkSummary()
    s.width = Int(r.u32(16))
    s.height = Int(r.u32(20))
    s.bitDepth = Int(file[24])
    s.colorType = Int(file[25])
    let dropTypes: Set<UInt32> = [0x6741_4D41 /* gAMA */, 0x7352_4742 /* sRGB */, 0x6943_4350 /* iCCP */,
                                  0x6348_524D /* cHRM */]
    var at = 8
    while file.count - at >= 12 {
        let length = Int(r.u32(at))
        let type = r.u32(at + 4)
        guard length <= 0x7FFF_FFFF else { break }
        let end = at + 12 + length
        if type == 0x4944_4154 /* IDAT */ { s.imageDataBytes += min(length, file.count - at - 8) }
        guard end <= file.count else { break }
        if dropTypes.contains(type) { s.dropped.append(at ..< end) }
        if type == 0x4945_4E44 /* IEND */ { break }
        at = end
    }
    return s
}

/// The channels of each PNG colour type, and their names for messages.
private func colorTypeInfo(_ colorType: Int) -> (channels: Int, name: String) {
    switch colorType {
    case 0: return (1, "gray")
    case 2: return (3, "RGB")
    case 3: return (1, "palette")
    case 4: return (2, "gray+alpha")
    case 6: return (4, "RGBA")
    default: return (1, "color type \(colorType)")
    }
}

private func libpngMessage(_ image: UnsafeMutablePointer<png_image>) -> String {
    let text = withUnsafeBytes(of: image.pointee.message) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
    return text.isEmpty ? "unknown error" : text
}

private func decodeImage(_ original: [UInt8], labels: Bool, fail: (String) -> TensorError) throws -> Tensor {
    let summary = try original.withUnsafeBytes { try summarize($0, fail: fail) }
    var bytes = original
    if !summary.dropped.isEmpty {
        bytes = []
        bytes.reserveCapacity(original.count)
        var from = 0
        for range in summary.dropped {
            bytes.append(contentsOf: original[from ..< range.lowerBound])
            from = range.upperBound
        }
        bytes.append(contentsOf: original[from...])
    }
    return try bytes.withUnsafeBytes { file -> Tensor in
        // libpng keeps a pointer to the png_image (its error handler writes the message there):
        // it must not move, so it lives on the heap.
        let image = UnsafeMutablePointer<png_image>.allocate(capacity: 1)
        image.initialize(to: png_image())
        image.pointee.version = UInt32(PNG_IMAGE_VERSION)
        defer {
            png_image_free(image)
            image.deallocate()
        }
        guard let base = file.baseAddress, png_image_begin_read_from_memory(image, base, file.count) != 0 else {
            throw fail("libpng: \(libpngMessage(image))")
        }
        let width = Int(image.pointee.width), height = Int(image.pointee.height)
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, pixels <= PNGImage.maxPixels else {
            throw fail("image is \(width)x\(height) pixels, more than the \(PNGImage.maxPixels)-pixel limit")
        }
        let fileChannels = colorTypeInfo(summary.colorType).channels
        let rawBytes = (pixels * fileChannels * summary.bitDepth + 7) / 8
        guard rawBytes <= Inflate.plausibleSize(compressed: summary.imageDataBytes) else {
            throw fail("image is \(width)x\(height) pixels, \(rawBytes) bytes of pixel data, but the file holds only "
                + "\(summary.imageDataBytes) bytes of compressed image data (truncated or corrupt file?)")
        }

        let format = image.pointee.format
        let isPalette = format & UInt32(PNG_FORMAT_FLAG_COLORMAP) != 0
        let isColor = format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
        let hasAlpha = format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
        let is16 = format & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0
        let typeName = colorTypeInfo(summary.colorType).name

        if labels && isPalette {
            return try readPaletteIndices(image, width: width, height: height, fail: fail)
        }

        // Direct (non-colour-mapped) output in the file's own layout: no conversion but the
        // palette expansion and the widening of 1, 2 and 4-bit gray.
        let colorChannels = isColor || isPalette ? 3 : 1
        let channels = colorChannels + (hasAlpha ? 1 : 0)
        var outFormat: UInt32 = 0
        if colorChannels == 3 { outFormat |= UInt32(PNG_FORMAT_FLAG_COLOR) }
        if hasAlpha { outFormat |= UInt32(PNG_FORMAT_FLAG_ALPHA) }
        if is16 && !isPalette { outFormat |= UInt32(PNG_FORMAT_FLAG_LINEAR) }
        image.pointee.format = outFormat
        guard width * channels <= Int(Int32.max) else {
            throw fail("image is \(width) pixels wide, too wide for libpng's simplified API")
        }
        let stride = Int32(width * channels)
        let samples = pixels * channels

        let layout = SampleLayout(width: width, height: height, channels: channels, colorChannels: colorChannels,
                                  typeName: typeName, labels: labels)
        if outFormat & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0 {
            var buffer = [UInt16](repeating: 0, count: samples)
            let ok = buffer.withUnsafeMutableBytes { png_image_finish_read(image, nil, $0.baseAddress, stride, nil) }
            guard ok != 0 else { throw fail("libpng: \(libpngMessage(image))") }
            if hasAlpha {
                // libpng premultiplied the colour by alpha: divide it back out.
                for p in 0 ..< pixels {
                    let a = UInt32(buffer[p * channels + channels - 1])
                    if labels && a != 65535 {
                        throw fail("16-bit \(typeName) mask has transparent pixels (alpha \(a) at row \(p / width), "
                            + "column \(p % width)); libpng premultiplies them, so their labels cannot be recovered")
                    }
                    for c in 0 ..< colorChannels {
                        let k = p * channels + c
                        buffer[k] = a == 0 ? 0 : UInt16(min(65535, (UInt32(buffer[k]) * 65535 + a / 2) / a))
                    }
                }
            }
            return try samplesToTensor(buffer, fullScale: 65535, divisor: 1, layout: layout, fail: fail)
        }
        var buffer = [UInt8](repeating: 0, count: samples)
        let ok = buffer.withUnsafeMutableBytes { png_image_finish_read(image, nil, $0.baseAddress, stride, nil) }
        guard ok != 0 else { throw fail("libpng: \(libpngMessage(image))") }
        // libpng widens 1, 2 and 4-bit gray to 0...255; labels want the stored 0...2^b-1.
        var divisor: UInt8 = 1
        if !isColor && summary.bitDepth < 8 && summary.bitDepth > 0 {
            divisor = UInt8(255 / ((1 << summary.bitDepth) - 1))
        }
        return try samplesToTensor(buffer, fullScale: 255, divisor: divisor, layout: layout, fail: fail)
    }
}

private struct SampleLayout {
    var width: Int
    var height: Int
    /// Samples per pixel in the buffer, and how many of them are colour (the rest is alpha).
    var channels: Int
    var colorChannels: Int
    var typeName: String
    var labels: Bool
}

/// Interleaved samples to C×H×W values / fullScale, or, for labels, to H×W stored values (the
/// gray level, checked to be the same in R, G and B for colour masks).
private func samplesToTensor<T: FixedWidthInteger & UnsignedInteger>(
    _ buffer: [T], fullScale: Float, divisor: T, layout: SampleLayout,
    fail: (String) -> TensorError) throws -> Tensor {
    let pixels = layout.width * layout.height
    let channels = layout.channels
    if !layout.labels {
        let planes = layout.colorChannels
        var out = [Float](repeating: 0, count: planes * pixels)
        for c in 0 ..< planes {
            // Divided, not multiplied by 1/255: v / 255 exactly, as other readers give.
            for p in 0 ..< pixels { out[c * pixels + p] = Float(buffer[p * channels + c]) / fullScale }
        }
        return Tensor(uncheckedShape: [planes, layout.height, layout.width], storage: out)
    }
    var out = [Float](repeating: 0, count: pixels)
    for p in 0 ..< pixels {
        let v = buffer[p * channels]
        if layout.colorChannels == 3 {
            let g = buffer[p * channels + 1], b = buffer[p * channels + 2]
            guard g == v, b == v else {
                throw fail("an \(layout.typeName) mask must be gray (R = G = B) to give labels, but the pixel at row "
                    + "\(p / layout.width), column \(p % layout.width) is (\(v), \(g), \(b)); "
                    + "save masks as gray or palette PNGs")
            }
        }
        out[p] = Float(v / divisor)
    }
    return Tensor(uncheckedShape: [layout.height, layout.width], storage: out)
}

/// A palette image's indices, through the simplified API's colour-mapped output, which keeps
/// the file's palette (and so its indices) as the colour map.
private func readPaletteIndices(_ image: UnsafeMutablePointer<png_image>, width: Int, height: Int,
                                fail: (String) -> TensorError) throws -> Tensor {
    image.pointee.format = UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA | PNG_FORMAT_FLAG_COLORMAP)
    image.pointee.colormap_entries = 256
    guard width <= Int(Int32.max) else {
        throw fail("image is \(width) pixels wide, too wide for libpng's simplified API")
    }
    var indices = [UInt8](repeating: 0, count: width * height)
    var colormap = [UInt8](repeating: 0, count: 256 * 4)
    let ok = indices.withUnsafeMutableBytes { buffer in
        colormap.withUnsafeMutableBytes { map in
            png_image_finish_read(image, nil, buffer.baseAddress, Int32(width), map.baseAddress)
        }
    }
    guard ok != 0 else { throw fail("libpng: \(libpngMessage(image))") }
    return Tensor(uncheckedShape: [height, width], storage: indices.map { Float($0) })
}

// MARK: - Writing

/// Interleaved 8-bit samples through `png_image_write_to_memory`.
private func writePNG(_ samples: [UInt8], width: Int, height: Int, channels: Int, context: String) throws -> [UInt8] {
    try samples.withUnsafeBytes {
        try writePNG($0, sixteenBit: false, width: width, height: height, channels: channels, context: context)
    }
}

/// Interleaved 8 or 16-bit samples (native byte order; libpng writes them big-endian). 16-bit
/// samples are written as they are (libpng's linear format, no gamma conversion).
private func writePNG(_ samples: UnsafeRawBufferPointer, sixteenBit: Bool, width: Int, height: Int, channels: Int,
                      context: String) throws -> [UInt8] {
    let image = UnsafeMutablePointer<png_image>.allocate(capacity: 1)
    image.initialize(to: png_image())
    defer {
        png_image_free(image)
        image.deallocate()
    }
    image.pointee.version = UInt32(PNG_IMAGE_VERSION)
    image.pointee.width = UInt32(width)
    image.pointee.height = UInt32(height)
    image.pointee.format = (channels == 3 ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0)
        | (sixteenBit ? UInt32(PNG_FORMAT_FLAG_LINEAR) : 0)
    let stride = Int32(width * channels)  // in samples, whatever their size

    var capacity = samples.count + samples.count / 8 + height + 4096
    for _ in 0 ..< 2 {
        var out = [UInt8](repeating: 0, count: capacity)
        var size = png_alloc_size_t(capacity)
        let ok = out.withUnsafeMutableBytes { memory in
            png_image_write_to_memory(image, memory.baseAddress, &size, 0, samples.baseAddress, stride, nil)
        }
        if ok != 0 {
            out.removeSubrange(Int(size)...)
            return out
        }
        guard Int(size) > capacity else { break }  // not a short buffer: a real error
        capacity = Int(size)
        png_image_free(image)
        image.pointee.warning_or_error = 0
    }
    throw TensorError("\(context)libpng could not encode the image: \(libpngMessage(image))")
}

/// Height, width and channel count of something writable as an image.
private func imageLayout(_ shape: [Int], allowColor: Bool, context: String) throws -> (c: Int, h: Int, w: Int) {
    var s = shape
    if s.count == 4, s[0] == 1 { s.removeFirst() }
    let layout: (c: Int, h: Int, w: Int)
    switch s.count {
    case 2: layout = (1, s[0], s[1])
    case 3 where s[0] == 1 || (allowColor && s[0] == 3): layout = (s[0], s[1], s[2])
    default:
        let expected = allowColor ? "an image of size C×H×W with C = 1 or 3, 1×C×H×W, or H×W"
            : "labels of size H×W or 1×H×W"
        throw TensorError("\(context)expected \(expected), got size \(describeShape(shape))")
    }
    guard layout.h > 0, layout.w > 0 else {
        throw TensorError("\(context)cannot write an empty image (size \(describeShape(shape)))")
    }
    guard layout.h <= Int(Int32.max), layout.w * layout.c <= Int(Int32.max) else {
        throw TensorError("\(context)image of size \(describeShape(shape)) is too large for PNG")
    }
    return layout
}

private func encodeImage(_ tensor: Tensor, bits: Int, context: String) throws -> [UInt8] {
    guard bits == 8 || bits == 16 else { throw TensorError("\(context)bits must be 8 or 16, got \(bits)") }
    let (c, h, w) = try imageLayout(tensor.shape, allowColor: true, context: context)
    let pixels = h * w
    let v = tensor.storage
    // Interleaved samples, value × top (255 or 65535), rounded.
    func interleaved<Sample: FixedWidthInteger & UnsignedInteger>(_ top: Float, as _: Sample.Type) throws -> [Sample] {
        var samples = [Sample](repeating: 0, count: pixels * c)
        for ch in 0 ..< c {
            for p in 0 ..< pixels {
                let x = v[ch * pixels + p]
                guard !x.isNaN else {
                    throw TensorError("\(context)the image has NaN at channel \(ch), row \(p / w), column \(p % w)")
                }
                samples[p * c + ch] = Sample((min(max(x, 0), 1) * top).rounded())
            }
        }
        return samples
    }
    if bits == 16 {
        return try interleaved(65535, as: UInt16.self).withUnsafeBytes {
            try writePNG($0, sixteenBit: true, width: w, height: h, channels: c, context: context)
        }
    }
    return try writePNG(try interleaved(255, as: UInt8.self), width: w, height: h, channels: c, context: context)
}

private func encodeLabelImage(_ labels: Tensor, context: String) throws -> [UInt8] {
    let (_, h, w) = try imageLayout(labels.shape, allowColor: false, context: context)
    var samples = [UInt8](repeating: 0, count: h * w)
    for (p, x) in labels.storage.enumerated() {
        guard x >= 0, x <= 255, x == x.rounded() else {
            throw TensorError("\(context)labels must be integers in 0...255 for an 8-bit PNG, "
                + "got \(x) at row \(p / w), column \(p % w)")
        }
        samples[p] = UInt8(x)
    }
    return try writePNG(samples, width: w, height: h, channels: 1, context: context)
}
