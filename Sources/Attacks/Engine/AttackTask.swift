import Tensor

/// What the attacked model does, which decides its loss and when an attack has succeeded.
public enum AttackTask: String, CaseIterable {
    /// Logits (N, K); labels (N) class indices.
    case classification
    /// Logits (N, K, H, W); labels (N, H, W) class indices per pixel.
    case segmentation
    /// A detector's heads concatenated, (N, C + 4, h, w); labels the true boxes as (N, M, 5)
    /// (`DetectionLabels`). Loss, success and agreement: see `DetectionTask`.
    case detection

    /// Checks that the model output and the labels fit this task.
    public func check(output: Tensor, labels: Tensor, op: String) throws {
        switch self {
        case .detection:
            return try DetectionTask.check(output: output, labels: labels, op: op)
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

    /// The task loss: mean cross-entropy over the batch (and pixels); the detector's training
    /// loss against the true boxes for detection.
    public func loss(_ output: Tensor, _ target: Tensor) throws -> Tensor {
        if self == .detection { return try DetectionTask.loss(output, target) }
        return try Tensor.crossEntropy(output, target)
    }

    /// Per-sample task loss, (N).
    public func lossPerSample(_ output: Tensor, _ target: Tensor) throws -> Tensor {
        if self == .detection { return try DetectionTask.lossPerSample(output, target) }
        let perItem = try Tensor.crossEntropy(output, target, reduction: .none)
        return perItem.rank == 1 ? perItem : try perItem.flattened(from: 1).mean(dim: 1)
    }

    /// Per sample, whether the attack reached its goal: a changed prediction (untargeted) or
    /// the target class (targeted); for segmentation, more than half of the pixels; for
    /// detection (untargeted only), none of the image's true boxes detected any more.
    public func success(_ output: Tensor, labels: Tensor, targeted: Bool) throws -> [Bool] {
        if self == .detection, targeted { throw TensorError("targeted attacks are not defined for detection") }
        return success(agreement: try agreement(output, labels: labels), targeted: targeted)
    }

    /// `success` from the agreement of each sample with the labels (`agreement`).
    public func success(agreement: [Float], targeted: Bool) -> [Bool] {
        agreement.map { agreement in
            switch self {
            case .classification: return targeted ? agreement == 1 : agreement == 0
            case .segmentation: return targeted ? agreement > 0.5 : agreement < 0.5
            case .detection: return agreement == 0
            }
        }
    }

    /// SMIA's stabilization term L(f(x̃), f(x + W∗η)): cross-entropy of the output against the
    /// target output's probabilities (softmax over the classes), or its argmax labels when
    /// `hard`; for detection `DetectionTask.stabilization`.
    public func stabilization(_ output: Tensor, target: Tensor, hard: Bool) throws -> Tensor {
        if self == .detection { return try DetectionTask.stabilization(output, target: target, hard: hard) }
        let labels = hard ? try target.argmax(dim: 1) : try target.softmax(dim: 1)
        return try loss(output, labels)
    }

    /// Per sample, the share of predictions equal to the labels: 0 or 1 for a classifier, the
    /// pixel accuracy for a segmenter, the share of the true boxes detected for a detector.
    public func agreement(_ output: Tensor, labels: Tensor) throws -> [Float] {
        if self == .detection { return try DetectionTask.agreement(output, labels: labels) }
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
