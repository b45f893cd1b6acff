import Tensor

/// Class labels out of a model's output or a target tensor, for the task metrics: a tensor of
/// labels is taken as it is (every value must be an integer >= 0); scores with one more
/// dimension than the labels (classes in dimension 1: (N, K) or (N, K, H, W)) give their
/// argmax over the classes.
enum ClassLabels {
    /// Labels of `rank` dimensions (1 for classification, 3 for segmentation) from `t`.
    static func labels(_ t: Tensor, rank: Int, what: String, op: String) throws -> (shape: [Int], values: [Int]) {
        if t.rank == rank {
            var out = [Int](repeating: 0, count: t.count)
            for (k, v) in t.storage.enumerated() {
                guard v >= 0, v == v.rounded(), v < 16_777_216 else {
                    throw TensorError("\(op): \(what) value \(v) at position \(k + 1) is not a class (expected integers >= 0)")
                }
                out[k] = Int(v)
            }
            return (t.shape, out)
        }
        guard t.rank == rank + 1, t.shape[1] >= 1 else {
            let labels = rank == 1 ? "(N)" : "(N, H, W)"
            let scores = rank == 1 ? "(N, K)" : "(N, K, H, W)"
            throw TensorError("\(op): expected \(what) as labels \(labels) or scores \(scores), got size \(describeShape(t.shape))")
        }
        let n = t.shape[0], k = t.shape[1]
        let inner = t.count / max(n * k, 1)
        var out = [Int](repeating: 0, count: n * inner)
        let v = t.storage
        for i in 0 ..< n {
            for p in 0 ..< inner {
                var best = 0
                var bestValue = v[(i * k) * inner + p]
                for c in 1 ..< k where v[(i * k + c) * inner + p] > bestValue || bestValue.isNaN {
                    best = c
                    bestValue = v[(i * k + c) * inner + p]
                }
                out[i * inner + p] = best
            }
        }
        return ([n] + t.shape.dropFirst(2), out)
    }

    /// Predicted and true labels of the same shape.
    static func pair(_ predicted: Tensor, _ target: Tensor, rank: Int, op: String) throws -> (pred: [Int], truth: [Int]) {
        let truth = try labels(target, rank: rank, what: "target", op: op)
        let pred = try labels(predicted, rank: rank, what: "prediction", op: op)
        guard pred.shape == truth.shape else {
            throw TensorError("\(op): predictions of size \(describeShape(pred.shape)) do not match targets of size "
                + "\(describeShape(truth.shape))")
        }
        guard !truth.values.isEmpty else { throw TensorError("\(op): no samples (empty targets)") }
        return (pred.values, truth.values)
    }
}
