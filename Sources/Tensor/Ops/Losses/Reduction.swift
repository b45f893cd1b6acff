/// How a loss turns its per-element values into the result, as PyTorch's `reduction=`.
public enum Reduction: String, CaseIterable {
    case mean, sum, none
}

extension Tensor {
    /// `none`: the values as they are; `sum`: their total; `mean`: the total over `denominator`
    /// (the element count when nil; losses with class weights or ignored targets pass their own).
    func reduced(_ reduction: Reduction, denominator: Float? = nil) throws -> Tensor {
        switch reduction {
        case .none: return self
        case .sum: return sum()
        case .mean:
            if let denominator { return try sum() / denominator }
            return try mean()
        }
    }
}
