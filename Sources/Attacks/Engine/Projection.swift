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

    /// A random point of the set with per-sample radii `radii` (N): uniform in the L∞ ball (also
    /// for `.none`), or a uniform direction scaled by a uniform fraction of the radius in the L2
    /// ball. Every number comes from the one stream of `seed`, so distinct seeds (restarts) never
    /// share numbers in a correlated way.
    func randomPerturbation(_ shape: [Int], radii: Tensor, seed: UInt64) throws -> Tensor {
        let n = shape[0]
        let perSample = [n] + [Int](repeating: 1, count: shape.count - 1)
        let radius = try radii.reshaped(perSample)
        switch self {
        case .linf, .none:
            return try (Tensor.rand(shape, seed: seed) * 2 - 1) * radius
        case .l2:
            var rng = SeededRandom(seed: seed)
            let count = shape.reduce(1, *)
            let direction = try Tensor(shape: shape, storage: (0..<count).map { _ in rng.normal() })
            let fraction = try Tensor(shape: perSample, storage: (0..<n).map { _ in rng.uniform() })
            let unit = try direction / perSampleNorm(direction, p: 2, floor: 1e-12)
            return try unit * fraction * radius
        }
    }
}

/// Checks per-sample radii: a vector of N finite values >= 0.
func checkRadii(_ radii: Tensor, count n: Int, op: String) throws {
    guard radii.shape == [n] else {
        throw TensorError("\(op): expected per-sample eps of size \(n), got \(describeShape(radii.shape))")
    }
    if let bad = radii.storage.first(where: { !($0 >= 0 && $0.isFinite) }) {
        throw TensorError("\(op): per-sample eps must be finite numbers >= 0, got \(bad)")
    }
}
