/// Kullback-Leibler divergence in PyTorch's `kl_div` convention: the input holds
/// log-probabilities, the target probabilities (or log-probabilities with `logTarget`).

/// `kl_div`'s reductions: `batchMean` divides the sum by the batch size, the mathematically
/// meaningful KL per sample; `mean` divides by the element count, as PyTorch's default does.
public enum KLReduction: String, CaseIterable {
    case none, sum, mean, batchmean
}

extension Tensor {
    /// `target·(log target - input)` per element, 0 where the target is 0; with `logTarget`,
    /// `exp(target)·(target - input)`.
    public static func klDivergence(_ input: Tensor, _ target: Tensor, reduction: KLReduction = .mean,
                                    logTarget: Bool = false) throws -> Tensor {
        guard input.shape == target.shape else {
            throw TensorError("kl_div: expected target of the input's size \(describeShape(input.shape)), got \(describeShape(target.shape))")
        }
        let pointwise: Tensor
        if logTarget {
            pointwise = try target.exp() * (target - input)
        } else {
            // t·log t with the limit 0 at t = 0; the log only sees positive values, so neither
            // the value nor the gradient turns into NaN there.
            let zero = Tensor(scalar: 0)
            let positive = try target.compare(zero, "gt")
            let safe = try Tensor.select(where: positive, target, Tensor(scalar: 1))
            pointwise = try Tensor.select(where: positive, target * safe.log(), zero) - target * input
        }
        switch reduction {
        case .none: return pointwise
        case .sum: return pointwise.sum()
        case .mean: return try pointwise.mean()
        case .batchmean: return try pointwise.sum() / Float(input.shape.first ?? 1)
        }
    }
}
