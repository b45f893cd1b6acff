import Tensor

/// Pictures of attacks, for reports: a grid with one row per image and one column per view
/// (the clean image, each method's adversarial image, each method's perturbation as a heat map,
/// or the perturbation at chosen iterations). Each column may carry predicted class labels (a
/// bar in the class colour under the tile), predicted masks (translucent overlay) or predicted
/// boxes (outlines); the grid is drawn by `SampleSheet`.
public enum AttackFigure {
    /// One view of the images: `images` is (N, 1 or 3, H, W) in [0, 1]; optional per-image
    /// labels (N), masks (N, H, W) or boxes.
    public struct Column {
        public var images: Tensor
        public var labels: Tensor?
        public var masks: Tensor?
        public var boxes: [[Box]]?

        public init(images: Tensor, labels: Tensor? = nil, masks: Tensor? = nil, boxes: [[Box]]? = nil) {
            self.images = images
            self.labels = labels
            self.masks = masks
            self.boxes = boxes
        }
    }

    /// Perturbations (N, C, H, W) as RGB heat maps (N, 3, H, W): the mean over channels, blue for
    /// negative, white for zero, red for positive, full colour at ±`scale` (by default the
    /// largest magnitude present, so the pattern shows whatever its size).
    public static func heatMap(_ perturbation: Tensor, scale: Float? = nil) throws -> Tensor {
        guard perturbation.rank == 4 else {
            throw TensorError("heat_map: expected a perturbation of size (N, C, H, W), got \(describeShape(perturbation.shape))")
        }
        let n = perturbation.shape[0], c = perturbation.shape[1], plane = perturbation.shape[2] * perturbation.shape[3]
        guard c >= 1 else { throw TensorError("heat_map: the perturbation has no channels") }
        let values = perturbation.storage
        var mean = [Float](repeating: 0, count: n * plane)
        for i in 0..<n {
            for k in 0..<c {
                for p in 0..<plane { mean[i * plane + p] += values[(i * c + k) * plane + p] / Float(c) }
            }
        }
        let largest = mean.reduce(Float(0)) { $1.isFinite ? max($0, Swift.abs($1)) : $0 }
        let full = scale ?? largest
        guard full.isFinite, full >= 0 else { throw TensorError("heat_map: scale must be a non-negative number, got \(full)") }
        var out = [Float](repeating: 1, count: n * 3 * plane)
        for i in 0..<n {
            for p in 0..<plane {
                let v = mean[i * plane + p]
                let t = full > 0 && v.isFinite ? min(Swift.abs(v) / full, 1) : 0
                // Fade the two other channels towards zero: red = (1, 1-t, 1-t), blue = (1-t, 1-t, 1).
                let fade = 1 - t
                let rgb: (Float, Float, Float) = v >= 0 ? (1, fade, fade) : (fade, fade, 1)
                out[(i * 3 + 0) * plane + p] = rgb.0
                out[(i * 3 + 1) * plane + p] = rgb.1
                out[(i * 3 + 2) * plane + p] = rgb.2
            }
        }
        return try Tensor(shape: [n, 3, perturbation.shape[2], perturbation.shape[3]], storage: out)
    }

    /// The grid: row i shows image i of every column, for the first `count` images (all by
    /// default). Gray columns are shown as gray RGB so they sit beside colour ones.
    public static func grid(_ columns: [Column], count: Int? = nil, padding: Int = 2, scale: Int = 2) throws -> Tensor {
        guard let first = columns.first else { throw TensorError("figure: no columns to draw") }
        guard first.images.rank == 4 else {
            throw TensorError("figure: column 1: expected images of size (N, C, H, W), got \(describeShape(first.images.shape))")
        }
        let n = first.images.shape[0], h = first.images.shape[2], w = first.images.shape[3]
        let rows = min(count ?? n, n)
        guard rows >= 1 else { throw TensorError("figure: no images to draw (count \(count.map(String.init) ?? "all"), \(n) images)") }
        for (j, column) in columns.enumerated() {
            let s = column.images.shape
            guard s.count == 4, s[0] == n, s[2] == h, s[3] == w, s[1] == 1 || s[1] == 3 else {
                throw TensorError("figure: column \(j + 1): expected images of size (\(n), 1 or 3, \(h), \(w)) like column 1, got \(describeShape(s))")
            }
            if let labels = column.labels, labels.shape != [n] {
                throw TensorError("figure: column \(j + 1): expected \(n) labels, got size \(describeShape(labels.shape))")
            }
            if let masks = column.masks, masks.shape != [n, h, w] {
                throw TensorError("figure: column \(j + 1): expected masks of size \(describeShape([n, h, w])), got \(describeShape(masks.shape))")
            }
            if let boxes = column.boxes, boxes.count != n {
                throw TensorError("figure: column \(j + 1): expected boxes for \(n) images, got \(boxes.count)")
            }
        }

        // Interleave: tile (i, j) is image i of column j, row-major, so a sheet with one
        // column per view draws the grid.
        let plane = h * w, tiles = rows * columns.count
        var images = [Float](repeating: 0, count: tiles * 3 * plane)
        var labels = [Float](repeating: .nan, count: tiles)
        var masks = [Float](repeating: 0, count: tiles * plane)
        var boxes = [[Box]](repeating: [], count: tiles)
        let anyLabels = columns.contains { $0.labels != nil }, anyMasks = columns.contains { $0.masks != nil }
        let anyBoxes = columns.contains { $0.boxes != nil }
        for i in 0..<rows {
            for (j, column) in columns.enumerated() {
                let tile = i * columns.count + j
                let c = column.images.shape[1], source = column.images.storage
                for k in 0..<3 {
                    let from = (i * c + min(k, c - 1)) * plane, to = (tile * 3 + k) * plane
                    for p in 0..<plane { images[to + p] = source[from + p] }
                }
                if let l = column.labels { labels[tile] = l.storage[i] }
                if let m = column.masks {
                    for p in 0..<plane { masks[tile * plane + p] = m.storage[i * plane + p] }
                }
                if let b = column.boxes { boxes[tile] = b[i] }
            }
        }
        return try SampleSheet.render(
            images: try Tensor(shape: [tiles, 3, h, w], storage: images),
            labels: anyLabels ? try Tensor(shape: [tiles], storage: labels) : nil,
            masks: anyMasks ? try Tensor(shape: [tiles, h, w], storage: masks) : nil,
            boxes: anyBoxes ? boxes : nil,
            columns: columns.count, padding: padding, scale: scale)
    }
}
