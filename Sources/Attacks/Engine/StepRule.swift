import Tensor

/// How a gradient becomes an update direction. Each rule returns a direction per sample that
/// the driver scales by the step size.
public enum StepRule {
    /// sign(g): FGSM, BIM, PGD, SMIA.
    case sign
    /// g / ||g||₂ per sample: L2 attacks.
    case l2
    /// g / ||g||∞ per sample: DAG's normalized step (a zero gradient gives no step).
    case linf
    /// MI-FGSM: m ← μ m + g / mean|g| per sample, direction sign(m).
    case momentum(decay: Float)
    /// Adam on the ascent direction, with bias correction.
    case adam(beta1: Float, beta2: Float, epsilon: Float)

    var name: String {
        switch self {
        case .sign: return "sign"
        case .l2: return "l2"
        case .linf: return "linf"
        case .momentum: return "momentum"
        case .adam: return "adam"
        }
    }
}

/// The state a step rule carries across iterations.
struct StepState {
    let rule: StepRule
    var first: Tensor?
    var second: Tensor?
    var count = 0

    init(_ rule: StepRule) { self.rule = rule }

    mutating func direction(_ g: Tensor) throws -> Tensor {
        count += 1
        switch rule {
        case .sign:
            return g.sign()
        case .l2:
            return try g / perSampleNorm(g, p: 2, floor: 1e-12)
        case .linf:
            return try g / perSampleNorm(g, p: .infinity, floor: 1e-12)
        case .momentum(let decay):
            let scaled = try g / perSampleMeanAbs(g)
            let m = try first.map { try $0 * decay + scaled } ?? scaled
            first = m
            return m.sign()
        case .adam(let b1, let b2, let eps):
            let m = try (first.map { try $0 * b1 } ?? Tensor.zeros(g.shape)) + g * (1 - b1)
            let v = try (second.map { try $0 * b2 } ?? Tensor.zeros(g.shape)) + (g * g) * (1 - b2)
            first = m
            second = v
            let mHat = try m / (1 - Float.pow(b1, count))
            let vHat = try v / (1 - Float.pow(b2, count))
            return try mHat / (vHat.sqrt() + eps)
        }
    }
}

extension Float {
    static func pow(_ base: Float, _ n: Int) -> Float {
        var r: Float = 1
        for _ in 0..<n { r *= base }
        return r
    }
}

/// ||g||_p per sample shaped (N, 1, 1, ...) to broadcast against g, at least `floor`.
func perSampleNorm(_ g: Tensor, p: Float, floor: Float) throws -> Tensor {
    let norms = try g.normPerSample(p: p).clamp(min: floor, max: nil)
    return try norms.reshaped([g.shape[0]] + [Int](repeating: 1, count: g.rank - 1))
}

/// mean |g| per sample, broadcastable against g (MI-FGSM's normalization, as torchattacks).
func perSampleMeanAbs(_ g: Tensor) throws -> Tensor {
    let n = g.shape[0]
    let means = try g.abs().reshaped([n, -1]).mean(dim: 1).clamp(min: 1e-12, max: nil)
    return try means.reshaped([n] + [Int](repeating: 1, count: g.rank - 1))
}
