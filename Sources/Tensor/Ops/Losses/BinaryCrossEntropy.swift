/// Binary cross-entropy from logits, as PyTorch's `binary_cross_entropy_with_logits`.

extension Tensor {
    /// `-(pos_weight·y·log σ(x) + (1 - y)·log(1 - σ(x)))` per element, times `weight`, computed
    /// as `(1 - y)·x - (1 + (pos_weight - 1)·y)·log σ(x)` with a stable log σ, so large logits
    /// neither overflow nor lose the loss. `weight` and `posWeight` broadcast against the logits
    /// (a `posWeight` of size C weighs the positives of each class of (N, C)).
    public static func binaryCrossEntropyWithLogits(_ logits: Tensor, _ target: Tensor, weight: Tensor? = nil,
                                                    posWeight: Tensor? = nil, reduction: Reduction = .mean) throws -> Tensor {
        guard target.shape == logits.shape else {
            throw TensorError("bce_with_logits: expected target of the logits' size \(describeShape(logits.shape)), got \(describeShape(target.shape))")
        }
        var positive = logits.logSigmoid()
        if let posWeight {
            positive = try positive * ((posWeight - 1) * target + 1)
        }
        var loss = try (Tensor(scalar: 1) - target) * logits - positive
        if let weight { loss = try loss * weight }
        guard loss.shape == logits.shape else {
            throw TensorError("bce_with_logits: weights of sizes \(describeShape(weight?.shape ?? [])) and \(describeShape(posWeight?.shape ?? [])) must broadcast to the logits' size \(describeShape(logits.shape)), not enlarge it")
        }
        return try loss.reduced(reduction)
    }
}
