/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay,
/// step for step as `torch.optim.SGD`:
///   g ← g + wd·p;  b ← g on the first step, else μ·b + (1 - τ)·g;
///   g ← g + μ·b (Nesterov) or b;  p ← p - lr·g.
public final class SGD: Optimizer {
    public let momentum: Float
    public let dampening: Float
    public let nesterov: Bool
    public let weightDecay: Float
    private var buffers: [[Float]?]

    public init(parameters: [Tensor], learningRate: Double, momentum: Float = 0, dampening: Float = 0,
                nesterov: Bool = false, weightDecay: Float = 0) throws {
        try Optimizer.check(momentum, "momentum", in: 0...Float.greatestFiniteMagnitude, "sgd")
        try Optimizer.check(dampening, "dampening", in: 0...1, "sgd")
        try Optimizer.check(weightDecay, "weight_decay", in: 0...Float.greatestFiniteMagnitude, "sgd")
        guard !nesterov || (momentum > 0 && dampening == 0) else {
            throw TensorError("sgd: Nesterov momentum requires a momentum > 0 and zero dampening")
        }
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        buffers = Array(repeating: nil, count: parameters.count)
        try super.init(parameters: parameters, learningRate: learningRate)
    }

    public override var typeName: String { "sgd" }
    public override var optionsDescription: String {
        "lr=\(learningRate), momentum=\(momentum), dampening=\(dampening), nesterov=\(nesterov), weight_decay=\(weightDecay)"
    }

    override func update(parameter index: Int, _ p: UnsafeMutableBufferPointer<Float>, _ g: UnsafeBufferPointer<Float>) {
        let lr = Float(learningRate), mu = momentum, wd = weightDecay
        guard mu != 0 else {
            for j in 0..<p.count { p[j] -= lr * (g[j] + wd * p[j]) }
            return
        }
        let first = buffers[index] == nil
        var b = buffers[index] ?? [Float](repeating: 0, count: p.count)
        buffers[index] = nil  // the array is ours alone while it is updated in place
        let keep = 1 - dampening
        b.withUnsafeMutableBufferPointer { b in
            for j in 0..<p.count {
                let d = g[j] + wd * p[j]
                b[j] = first ? d : mu * b[j] + keep * d
                p[j] -= lr * (nesterov ? d + mu * b[j] : b[j])
            }
        }
        buffers[index] = b
    }
}
