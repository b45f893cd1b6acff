import Tensor

/// Pictures of attacks, for reports: the views of a figure (`LabelledFigure` lays them out
/// with their titles, captions and legends) and perturbations as heat maps.
public enum AttackFigure {
    /// One view of the images, a column of the figure: `images` is (N, 1 or 3, H, W) in [0, 1];
    /// optional per-image predicted labels (N, drawn as a bar in the class colour and named
    /// under the tile), true labels `truth` (N: a prediction that differs is marked ✗), masks
    /// (N, H, W, a translucent overlay), boxes (outlines) and captions (lines under the tile);
    /// `title` heads the column, `group` a run of neighbouring columns that share it.
    public struct Column {
        public var images: Tensor
        public var labels: Tensor?
        public var masks: Tensor?
        public var boxes: [[Box]]?
        public var truth: Tensor?
        public var title: String?
        public var group: String?
        public var captions: [String]?

        public init(images: Tensor, labels: Tensor? = nil, masks: Tensor? = nil, boxes: [[Box]]? = nil,
                    truth: Tensor? = nil, title: String? = nil, group: String? = nil, captions: [String]? = nil) {
            self.images = images
            self.labels = labels
            self.masks = masks
            self.boxes = boxes
            self.truth = truth
            self.title = title
            self.group = group
            self.captions = captions
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
}
