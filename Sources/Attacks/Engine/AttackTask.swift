import Tensor

/// What the attacked model does, which decides its loss and when an attack has succeeded.
public enum AttackTask: String, CaseIterable {
    /// Logits (N, K); labels (N) class indices.
    case classification
    /// Logits (N, K, H, W); labels (N, H, W) class indices per pixel.
    case segmentation

    /// Checks that the model output and the labels fit this task.
    public func check(output: Tensor, labels: Tensor, op: String) throws {
        switch self {
        case .classification:
            guard output.rank == 2 else {
                throw TensorError("\(op): a classifier must output (N, K) logits, got size \(describeShape(output.shape))")
            }
        case .segmentation:
            guard output.rank == 4 else {
                throw TensorError("\(op): a segmenter must output (N, K, H, W) logits, got size \(describeShape(output.shape))")
            }
        }
        var expected = output.shape
        expected.remove(at: 1)
        guard labels.shape == expected else {
            throw TensorError("\(op): expected labels of size \(describeShape(expected)) for model output \(describeShape(output.shape)), got \(describeShape(labels.shape))")
        }
        let k = output.shape[1]
        if let bad = labels.storage.first(where: { !($0 >= 0 && $0 < Float(k) && $0 == $0.rounded()) }) {
            throw TensorError("\(op): expected labels that are class indices in 0..\(k - 1) for a model with \(k) classes, got \(bad)")
        }
    }

    /// The task loss: mean cross-entropy over the batch (and pixels).
    public func loss(_ output: Tensor, _ target: Tensor) throws -> Tensor {
        try Tensor.crossEntropy(output, target)
    }

    /// Per-sample task loss, (N).
    public func lossPerSample(_ output: Tensor, _ target: Tensor) throws -> Tensor {
        let perItem = try Tensor.crossEntropy(output, target, reduction: .none)
        return perItem.rank == 1 ? perItem : try perItem.flattened(from: 1).mean(dim: 1)
    }

    /// Per sample, whether the attack reached its goal: a changed prediction (untargeted) or
    /// the target class (targeted); for segmentation, more than half of the pixels.
    public func success(_ output: Tensor, labels: Tensor, targeted: Bool) throws -> [Bool] {
        try agreement(output, labels: labels).map { agreement in
            switch self {
            case .classification: return targeted ? agreement == 1 : agreement == 0
            case .segmentation: return targeted ? agreement > 0.5 : agreement < 0.5
            }
        }
    }

    /// Per sample, the share of predictions equal to the labels: 0 or 1 for a classifier, the
    /// pixel accuracy for a segmenter.
    public func agreement(_ output: Tensor, labels: Tensor) throws -> [Float] {
        let predicted = try output.argmax(dim: 1)
        guard predicted.count == labels.count, output.rank >= 2 else {
            throw TensorError("agreement: expected labels with \(predicted.count) values for model output \(describeShape(output.shape)), got \(describeShape(labels.shape))")
        }
        let n = output.shape[0]
        let perSample = predicted.count / max(n, 1)
        return (0..<n).map { i in
            var hits = 0
            for j in 0..<perSample where predicted.storage[i * perSample + j] == labels.storage[i * perSample + j] { hits += 1 }
            return Float(hits) / Float(max(perSample, 1))
        }
    }
}
