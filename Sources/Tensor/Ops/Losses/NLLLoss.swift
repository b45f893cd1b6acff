/// Negative log-likelihood of class indices, given log-probabilities (N, C) or (N, C, d1, ...).

extension Tensor {
    /// `-weight[y] * logProbs[n, y]` per element, 0 where the target is `ignoreIndex`. The mean
    /// divides by the total weight of the targets that are not ignored, as in PyTorch (NaN when
    /// every target is ignored).
    public static func nllLoss(_ logProbs: Tensor, _ target: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                               reduction: Reduction = .mean) throws -> Tensor {
        guard logProbs.rank >= 2 else {
            throw TensorError("nll_loss: expected input of size (N, C) or (N, C, H, W), got \(describeShape(logProbs.shape))")
        }
        let targets = try ClassTargets(target, input: logProbs.shape, weight: weight, ignoreIndex: ignoreIndex, op: "nll_loss")
        return try weightedNLL(logProbs, targets).reduced(reduction, denominator: targets.weightTotal)
    }

    /// The unreduced loss of checked targets.
    static func weightedNLL(_ logProbs: Tensor, _ targets: ClassTargets) throws -> Tensor {
        let picked = -pickClass(logProbs, targets)
        return targets.isWeighted ? try picked * targets.weightTensor : picked
    }
}
