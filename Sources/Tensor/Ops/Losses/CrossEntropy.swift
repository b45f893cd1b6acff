/// Cross-entropy for classification (N, C) and per pixel (N, C, H, W), from logits, with
/// PyTorch's class weights, ignored index and label smoothing.

extension Tensor {
    /// `target` holds class indices (0-based, shape (N) or (N, H, W)) or probabilities with the
    /// logits' shape. With indices the mean divides by the total weight of the targets not
    /// ignored (their count without `weight`); with probabilities by N·H·W, and `ignoreIndex`
    /// must stay negative, as in PyTorch. Label smoothing ε mixes the target with the uniform
    /// distribution: `(1 - ε)·loss + ε/C·Σ_c -weight[c]·log p_c` for indices, target·(1 - ε) + ε/C
    /// for probabilities.
    public static func crossEntropy(_ logits: Tensor, _ target: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                                    labelSmoothing: Float = 0, reduction: Reduction = .mean) throws -> Tensor {
        guard logits.rank >= 2 else {
            throw TensorError("cross_entropy: expected logits of size (N, C) or (N, C, H, W), got \(describeShape(logits.shape))")
        }
        guard labelSmoothing >= 0, labelSmoothing <= 1 else {
            throw TensorError("cross_entropy: label_smoothing must be in [0, 1], got \(labelSmoothing)")
        }
        let c = logits.shape[1]
        if let weight, weight.shape != [c] {
            throw TensorError("cross_entropy: expected a weight per class (size \(c)), got size \(describeShape(weight.shape))")
        }
        let logp = try logits.logSoftmax(dim: 1)
        let classWeight = try weight.map { try $0.alongClassDimension(rank: logits.rank) }

        if target.shape == logits.shape {
            guard ignoreIndex < 0 else {
                throw TensorError("cross_entropy: ignore_index is not supported with probability targets")
            }
            var p = target
            if labelSmoothing > 0 { p = try target * (1 - labelSmoothing) + labelSmoothing / Float(c) }
            var terms = try p * logp
            if let classWeight { terms = try terms * classWeight }
            return try (-terms.sum(dim: 1)).reduced(reduction)
        }

        var expected = logits.shape
        expected.remove(at: 1)
        guard target.shape == expected else {
            throw TensorError("cross_entropy: expected target of size \(describeShape(expected)) (class indices) or \(describeShape(logits.shape)) (probabilities), got \(describeShape(target.shape))")
        }
        let targets = try ClassTargets(target, input: logits.shape, weight: weight, ignoreIndex: ignoreIndex, op: "cross_entropy")
        var loss = try weightedNLL(logp, targets)
        if labelSmoothing > 0 {
            // Every class's log-probability, weighted by its class weight; nothing where ignored.
            var smooth = -(try (classWeight.map { try logp * $0 } ?? logp).sum(dim: 1))
            if let kept = targets.keptMask { smooth = try smooth * kept }
            loss = try loss * (1 - labelSmoothing) + smooth * (labelSmoothing / Float(c))
        }
        return try loss.reduced(reduction, denominator: targets.weightTotal)
    }
}
