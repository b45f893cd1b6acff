/// Soft Dice loss for segmentation, per class, from logits.

extension Tensor {
    /// `1 - (2·Σ p·t + smooth) / (Σ p + Σ t + smooth)` for each class c, the sums running over
    /// the batch and the pixels, with p = softmax(logits) along dimension 1 and t the target one-hot
    /// (class indices of size (N, H, W)) or probabilities of the logits' size. `smooth` keeps a
    /// class absent from both finite and pushes its probabilities towards 0. The per-class losses
    /// (size C) are then reduced: `mean` over the classes.
    public static func diceLoss(_ logits: Tensor, _ target: Tensor, smooth: Float = 1, reduction: Reduction = .mean) throws -> Tensor {
        guard logits.rank >= 2 else {
            throw TensorError("dice_loss: expected logits of size (N, C) or (N, C, H, W), got \(describeShape(logits.shape))")
        }
        guard smooth >= 0, smooth.isFinite else {
            throw TensorError("dice_loss: smooth must be a finite number >= 0, got \(smooth)")
        }
        let t: Tensor
        if target.shape == logits.shape {
            t = target
        } else {
            var expected = logits.shape
            expected.remove(at: 1)
            guard target.shape == expected else {
                throw TensorError("dice_loss: expected target of size \(describeShape(expected)) (class indices) or \(describeShape(logits.shape)) (probabilities), got \(describeShape(target.shape))")
            }
            t = try ClassTargets(target, input: logits.shape, weight: nil, ignoreIndex: nil, op: "dice_loss").oneHot(logits.shape)
        }
        let c = logits.shape[1]
        var order = Array(0..<logits.rank)
        order.swapAt(0, 1)
        // (C, everything else): each class's values in one row.
        func perClass(_ x: Tensor) throws -> Tensor { try x.permuted(order).reshaped([c, -1]).sum(dim: 1) }
        let p = try logits.softmax(dim: 1)
        let intersection = try perClass(p * t)
        let cardinality = try perClass(p + t)
        let dice = try (intersection * 2 + smooth) / (cardinality + smooth)
        return try (Tensor(scalar: 1) - dice).reduced(reduction)
    }
}
