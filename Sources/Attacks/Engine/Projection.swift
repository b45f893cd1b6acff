import Tensor

/// The set the perturbation is kept in, around the clean image.
public enum Projection {
    /// |η| ≤ eps per pixel (eps per sample).
    case linf
    /// ||η||₂ ≤ eps per sample.
    case l2
    /// No bound: the number of steps times the step size is the only limit.
    case none

    /// Projects `adversarial` around `clean` with per-sample radii `eps` (N), then clips to `range`.
    func apply(clean: Tensor, adversarial: Tensor, eps: Tensor, range: (Float, Float)) throws -> Tensor {
        let radius = try eps.reshaped([clean.shape[0]] + [Int](repeating: 1, count: clean.rank - 1))
        var delta = try adversarial - clean
        switch self {
        case .linf:
            delta = try delta.minimum(radius).maximum(-radius)
        case .l2:
            let norms = try perSampleNorm(delta, p: 2, floor: 1e-12)
            delta = try delta * (radius / norms).clamp(min: nil, max: 1)
        case .none:
            break
        }
        return try (clean + delta).clamp(min: range.0, max: range.1)
    }
}
