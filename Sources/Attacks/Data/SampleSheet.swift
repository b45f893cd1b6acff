import Tensor

/// A contact sheet of images for docs and reports: a grid as one RGB tensor (3, H, W) in [0, 1],
/// ready for a PNG writer. Gray images are shown as gray; segmentation masks are laid over as
/// translucent class colours (background, class 0, left clear); boxes are outlined in their class
/// colour; classification labels are a bar in the class colour under each tile.
public enum SampleSheet {
    /// Class colours by label (label k uses `palette[k % palette.count]`): red, green, blue,
    /// yellow, magenta, cyan, orange, violet, brown, pink, olive, gray (twelve, so that ten-class
    /// sets such as Fashion-MNIST have a colour per class).
    public static let palette: [[Float]] = [
        [0.95, 0.15, 0.15], [0.15, 0.85, 0.25], [0.2, 0.45, 1.0], [1.0, 0.85, 0.05],
        [0.9, 0.2, 0.9], [0.05, 0.9, 0.9], [1.0, 0.55, 0.0], [0.6, 0.35, 1.0],
        [0.6, 0.35, 0.15], [1.0, 0.6, 0.75], [0.55, 0.6, 0.1], [0.55, 0.55, 0.55],
    ]
    static let background: Float = 0.12
    static let overlayOpacity: Float = 0.4

    /// The first `count` images (all by default) of a set, with its targets drawn as above.
    public static func render(_ data: BenchmarkData, count: Int? = nil, columns: Int = 8, padding: Int = 2, scale: Int = 1) throws -> Tensor {
        switch data.task {
        case .classification:
            return try render(images: data.images, labels: data.labels, count: count, columns: columns, padding: padding, scale: scale)
        case .segmentation:
            return try render(images: data.images, masks: data.labels, count: count, columns: columns, padding: padding, scale: scale)
        case .detection:
            return try render(images: data.images, boxes: data.boxes, count: count, columns: columns, padding: padding, scale: scale)
        }
    }

    /// A grid of images (N, C, H, W) with C = 1 or 3, optionally with class labels (N), masks
    /// (N, H, W) or boxes (one list per image); each tile is scaled up `scale` times (nearest
    /// neighbour), tiles are `padding` pixels apart.
    public static func render(images: Tensor, labels: Tensor? = nil, masks: Tensor? = nil, boxes: [[Box]]? = nil,
                              count: Int? = nil, columns: Int = 8, padding: Int = 2, scale: Int = 1) throws -> Tensor {
        let op = "sample_sheet"
        guard images.rank == 4, images.shape[1] == 1 || images.shape[1] == 3 else {
            throw TensorError("\(op): expected images of size (N, 1 or 3, H, W), got \(describeShape(images.shape))")
        }
        let n = images.shape[0], c = images.shape[1], h = images.shape[2], w = images.shape[3]
        let shown = min(count ?? n, n)
        guard shown >= 1, h >= 1, w >= 1 else { throw TensorError("\(op): no images to show (size \(describeShape(images.shape)), count \(count.map(String.init) ?? "all"))") }
        guard columns >= 1 else { throw TensorError("\(op): columns must be >= 1, got \(columns)") }
        guard (0...64).contains(padding) else { throw TensorError("\(op): padding must be in 0...64, got \(padding)") }
        guard (1...16).contains(scale) else { throw TensorError("\(op): scale must be in 1...16, got \(scale)") }
        if let labels = labels, labels.shape != [n] {
            throw TensorError("\(op): expected labels of size \(n), got \(describeShape(labels.shape))")
        }
        if let masks = masks, masks.shape != [n, h, w] {
            throw TensorError("\(op): expected masks of size \(describeShape([n, h, w])), got \(describeShape(masks.shape))")
        }
        if let boxes = boxes, boxes.count < shown {
            throw TensorError("\(op): expected boxes for \(shown) images, got \(boxes.count)")
        }

        let tileW = w * scale, tileH = h * scale
        let bar = labels == nil ? 0 : max(2, tileH / 12)
        let cols = min(columns, shown), rows = (shown + cols - 1) / cols
        let outW = cols * tileW + (cols + 1) * padding
        let outH = rows * (tileH + bar) + (rows + 1) * padding
        let (total, overflow) = outW.multipliedReportingOverflow(by: outH * 3)
        guard !overflow, total <= 1 << 28 else { throw TensorError("\(op): a sheet of \(outW)x\(outH) is too large") }
        let plane = outW * outH
        var out = [Float](repeating: background, count: 3 * plane)

        @inline(__always) func put(_ x: Int, _ y: Int, _ rgb: [Float]) {
            guard x >= 0, y >= 0, x < outW, y < outH else { return }
            for k in 0..<3 { out[k * plane + y * outW + x] = rgb[k] }
        }
        func color(_ label: Int) -> [Float] { palette[((label % palette.count) + palette.count) % palette.count] }
        // A stored label as an Int; nil for values that are not one (NaN, huge, fractional).
        func classIndex(_ v: Float) -> Int? {
            guard v.isFinite, Swift.abs(v) < 16_777_216, v == v.rounded() else { return nil }
            return Int(v)
        }

        for i in 0..<shown {
            let ox = padding + (i % cols) * (tileW + padding)
            let oy = padding + (i / cols) * (tileH + bar + padding)
            for y in 0..<h {
                for x in 0..<w {
                    var rgb = (0..<3).map { k in clamp01(images.storage[((i * c + min(k, c - 1)) * h + y) * w + x]) }
                    if let masks = masks {
                        if let label = classIndex(masks.storage[(i * h + y) * w + x]), label > 0 {
                            let tint = color(label)
                            for k in 0..<3 { rgb[k] += (tint[k] - rgb[k]) * overlayOpacity }
                        }
                    }
                    for dy in 0..<scale {
                        for dx in 0..<scale { put(ox + x * scale + dx, oy + y * scale + dy, rgb) }
                    }
                }
            }
            if let boxes = boxes {
                for b in boxes[i] {
                    guard b.x1.isFinite, b.y1.isFinite, b.x2.isFinite, b.y2.isFinite else { continue }
                    // Outline on the pixels just inside the box, clipped to the tile (clamped as
                    // Float first: any finite coordinate converts safely).
                    func pixel(_ v: Float, _ limit: Int, up: Bool) -> Int {
                        let scaled = min(max(v * Float(scale), -1), Float(limit + 1))
                        return max(0, min(limit - 1, up ? Int(scaled.rounded(.up)) - 1 : Int(scaled.rounded(.down))))
                    }
                    let x1 = pixel(b.x1, tileW, up: false), x2 = pixel(b.x2, tileW, up: true)
                    let y1 = pixel(b.y1, tileH, up: false), y2 = pixel(b.y2, tileH, up: true)
                    guard x1 <= x2, y1 <= y2 else { continue }
                    let rgb = color(b.label)
                    for x in x1...x2 { put(ox + x, oy + y1, rgb); put(ox + x, oy + y2, rgb) }
                    for y in y1...y2 { put(ox + x1, oy + y, rgb); put(ox + x2, oy + y, rgb) }
                }
            }
            if let labels = labels, let label = classIndex(labels.storage[i]) {
                let rgb = color(label)
                for y in 0..<bar {
                    for x in 0..<tileW { put(ox + x, oy + tileH + y, rgb) }
                }
            }
        }
        return try Tensor(shape: [3, outH, outW], storage: out)
    }
}
