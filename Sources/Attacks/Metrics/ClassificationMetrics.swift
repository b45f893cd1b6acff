import Tensor

/// Image classification: accuracy, the confusion matrix, and the false positive rate of a
/// grading task (grade 0 = healthy). Predictions are labels (N) or scores (N, K); targets are
/// labels (N).
public enum ClassificationMetrics {
    /// The fraction of images whose predicted class is the true one.
    public static func accuracy(_ predicted: Tensor, _ target: Tensor) throws -> Float {
        let (pred, truth) = try ClassLabels.pair(predicted, target, rank: 1, op: "accuracy")
        let right = zip(pred, truth).filter { $0 == $1 }.count
        return Float(right) / Float(truth.count)
    }

    /// counts[t][p]: images of true class t predicted as p, for `classes` classes (by default
    /// one more than the largest label seen).
    public static func confusion(_ predicted: Tensor, _ target: Tensor, classes: Int? = nil) throws -> [[Int]] {
        let (pred, truth) = try ClassLabels.pair(predicted, target, rank: 1, op: "confusion")
        let k = classes ?? (max(pred.max() ?? 0, truth.max() ?? 0) + 1)
        // k² counts: a label in the millions is a mistake, not a class.
        guard (1 ... 4096).contains(k) else {
            throw TensorError("confusion: expected 1...4096 classes, got \(k)\(classes == nil ? " (one more than the largest label)" : "")")
        }
        var counts = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        for (i, (p, t)) in zip(pred, truth).enumerated() {
            guard p < k, t < k else {
                throw TensorError("confusion: sample \(i + 1) has class \(max(p, t)), out of range for \(k) classes (0...\(k - 1))")
            }
            counts[t][p] += 1
        }
        return counts
    }

    /// The fraction of grade-0 (healthy) images predicted with a grade above 0; nil when no
    /// image is of grade 0.
    public static func falsePositiveRate(_ predicted: Tensor, _ target: Tensor) throws -> Float? {
        let (pred, truth) = try ClassLabels.pair(predicted, target, rank: 1, op: "fpr")
        let healthy = zip(pred, truth).filter { $0.1 == 0 }
        guard !healthy.isEmpty else { return nil }
        return Float(healthy.filter { $0.0 > 0 }.count) / Float(healthy.count)
    }
}
