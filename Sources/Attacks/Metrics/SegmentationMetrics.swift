import Tensor

/// Semantic segmentation from predicted and true label maps (N, H, W) (predictions may also be
/// scores (N, K, H, W)): pixel accuracy, and per-class Jaccard index (IoU) and Dice coefficient.
/// IoU and Dice are computed over all pixels of all images together (intersections and unions
/// summed over the set, then divided). A class absent from both the predictions and the targets
/// has no value and is left out of the mean.
public enum SegmentationMetrics {
    public struct Overlap: Equatable {
        /// Pixels of the class in both, in the prediction, in the target.
        public var intersection = 0, predicted = 0, actual = 0

        public var iou: Float? {
            let union = predicted + actual - intersection
            return union > 0 ? Float(intersection) / Float(union) : nil
        }

        public var dice: Float? {
            let total = predicted + actual
            return total > 0 ? 2 * Float(intersection) / Float(total) : nil
        }
    }

    /// A metric per class and its mean over the classes averaged (`classes`, or every class
    /// that has a value); the mean is NaN when none has one.
    public struct PerClass {
        public let mean: Float
        public let perClass: [Int: Float]
    }

    /// The fraction of pixels whose predicted class is the true one.
    public static func pixelAccuracy(_ predicted: Tensor, _ target: Tensor) throws -> Float {
        let (pred, truth) = try ClassLabels.pair(predicted, target, rank: 3, op: "pixel_accuracy")
        return Float(zip(pred, truth).filter { $0 == $1 }.count) / Float(truth.count)
    }

    /// Pixel counts per class (0...max label seen).
    public static func overlaps(_ predicted: Tensor, _ target: Tensor, op: String = "overlaps") throws -> [Overlap] {
        let (pred, truth) = try ClassLabels.pair(predicted, target, rank: 3, op: op)
        let k = max(pred.max() ?? 0, truth.max() ?? 0) + 1
        guard k <= 65536 else {
            throw TensorError("\(op): label \(k - 1) is too large for a class (at most 65535, as in a 16-bit mask)")
        }
        var out = [Overlap](repeating: Overlap(), count: k)
        for (p, t) in zip(pred, truth) {
            out[p].predicted += 1
            out[t].actual += 1
            if p == t { out[p].intersection += 1 }
        }
        return out
    }

    /// Per-class IoU (Jaccard index) and its mean over `classes` (e.g. [1, 2]: the foreground of
    /// ct_lung), or over every class with a value.
    public static func iou(_ predicted: Tensor, _ target: Tensor, classes: [Int]? = nil) throws -> PerClass {
        try summarize(overlaps(predicted, target, op: "iou"), classes: classes, op: "iou") { $0.iou }
    }

    /// Per-class Dice coefficient (2|A∩B| / (|A| + |B|)) and its mean, as `iou`.
    public static func dice(_ predicted: Tensor, _ target: Tensor, classes: [Int]? = nil) throws -> PerClass {
        try summarize(overlaps(predicted, target, op: "dice"), classes: classes, op: "dice") { $0.dice }
    }

    private static func summarize(_ overlaps: [Overlap], classes: [Int]?, op: String, _ value: (Overlap) -> Float?) throws -> PerClass {
        var perClass: [Int: Float] = [:]
        for (c, o) in overlaps.enumerated() {
            if let v = value(o) { perClass[c] = v }
        }
        if let bad = classes?.first(where: { $0 < 0 }) {
            throw TensorError("\(op): classes must be labels >= 0, got \(bad)")
        }
        let averaged = (classes ?? perClass.keys.sorted()).compactMap { perClass[$0] }
        let mean = averaged.isEmpty ? Float.nan : averaged.reduce(0, +) / Float(averaged.count)
        return PerClass(mean: mean, perClass: perClass)
    }
}
