import Foundation

/// Adam and AdamW, step for step as `torch.optim.Adam` and `torch.optim.AdamW`:
///   (AdamW) p ← p·(1 - lr·wd);  (Adam) g ← g + wd·p;
///   m ← β1·m + (1 - β1)·g;  v ← β2·v + (1 - β2)·g²;  (AMSGrad) v̂ ← max(v̂, v)
///   p ← p - lr/(1 - β1^t) · m / (√v / √(1 - β2^t) + ε).
public final class Adam: Optimizer {
    public let beta1: Float
    public let beta2: Float
    public let eps: Float
    public let weightDecay: Float
    /// AdamW: the weight decay shrinks the parameters directly instead of joining the gradient.
    public let decoupled: Bool
    public let amsgrad: Bool
    private var first: [[Float]]
    private var second: [[Float]]
    private var maxSecond: [[Float]]

    /// Adam; `decoupled: true` with a weight decay (PyTorch's default 0.01) is AdamW.
    public init(parameters: [Tensor], learningRate: Double = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                eps: Float = 1e-8, weightDecay: Float = 0, decoupled: Bool = false, amsgrad: Bool = false) throws {
        let name = decoupled ? "adamw" : "adam"
        try Optimizer.check(beta1, "beta1", in: 0...Float(1).nextDown, name)
        try Optimizer.check(beta2, "beta2", in: 0...Float(1).nextDown, name)
        try Optimizer.check(eps, "eps", in: 0...Float.greatestFiniteMagnitude, name)
        try Optimizer.check(weightDecay, "weight_decay", in: 0...Float.greatestFiniteMagnitude, name)
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.decoupled = decoupled
        self.amsgrad = amsgrad
        first = parameters.map { [Float](repeating: 0, count: $0.count) }
        second = first
        maxSecond = amsgrad ? first : []
        try super.init(parameters: parameters, learningRate: learningRate)
    }

    public override var typeName: String { decoupled ? "adamw" : "adam" }
    public override var optionsDescription: String {
        "lr=\(learningRate), betas=(\(beta1), \(beta2)), eps=\(eps), weight_decay=\(weightDecay)\(amsgrad ? ", amsgrad=true" : "")"
    }

    override func update(parameter index: Int, _ p: UnsafeMutableBufferPointer<Float>, _ g: UnsafeBufferPointer<Float>) {
        let lr = learningRate, b1 = beta1, b2 = beta2, eps = self.eps
        let t = Double(stepCount)
        // The bias corrections in Double, as Python computes them, then used in float32.
        let stepSize = Float(lr / (1 - Foundation.pow(Double(b1), t)))
        let correction2 = Float((1 - Foundation.pow(Double(b2), t)).squareRoot())
        let shrink = decoupled ? Float(1 - lr * Double(weightDecay)) : 1
        let l2 = decoupled ? 0 : weightDecay
        var m = first[index], v = second[index], vMax = amsgrad ? maxSecond[index] : []
        first[index] = []; second[index] = []  // ours alone while updated in place
        if amsgrad { maxSecond[index] = [] }
        for j in 0..<p.count {
            if decoupled { p[j] *= shrink }
            let d = g[j] + l2 * p[j]
            m[j] += (d - m[j]) * (1 - b1)
            v[j] = b2 * v[j] + (1 - b2) * d * d
            var s = v[j]
            if amsgrad {
                vMax[j] = Swift.max(vMax[j], v[j])
                s = vMax[j]
            }
            p[j] -= stepSize * (m[j] / (s.squareRoot() / correction2 + eps))
        }
        first[index] = m
        second[index] = v
        if amsgrad { maxSecond[index] = vMax }
    }
}
