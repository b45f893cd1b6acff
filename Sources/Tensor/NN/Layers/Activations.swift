public final class ReLU: Module {
    /// One for models that apply a ReLU in their forward code rather than as a child.
    static let shared = ReLU()
    public override func forward(_ x: Tensor) throws -> Tensor { x.relu() }
}

/// Identity at eval time; in training, zeroes each value with probability p and scales the rest
/// by 1/(1-p), drawing from the seeded parameter generator.
public final class Dropout: Module {
    public let p: Float

    public init(p: Float = 0.5) throws {
        guard p >= 0, p < 1 else { throw TensorError("Dropout: p must be in [0, 1), got \(p)") }
        self.p = p
        super.init()
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        guard isTraining, p > 0 else { return x }
        let keep = 1 - p
        let mask = Tensor.zerosUnchecked(x.shape)
        for i in 0..<mask.count { mask.storage[i] = ParameterInit.generator.uniform() < keep ? 1 / keep : 0 }
        return try x * mask
    }

    public override var optionsDescription: String { "p=\(p)" }
}

public final class Flatten: Module {
    public let startDim: Int
    public init(startDim: Int = 1) {
        self.startDim = startDim
        super.init()
    }
    public override func forward(_ x: Tensor) throws -> Tensor { try x.flattened(from: startDim) }
}

public final class LeakyReLU: Module {
    public let negativeSlope: Float
    public init(negativeSlope: Float = 0.01) throws {
        guard negativeSlope.isFinite else { throw TensorError("LeakyReLU: negative_slope must be finite, got \(negativeSlope)") }
        self.negativeSlope = negativeSlope
        super.init()
    }
    public override func forward(_ x: Tensor) throws -> Tensor { x.leakyRelu(negativeSlope) }
    public override var optionsDescription: String { "negative_slope=\(negativeSlope)" }
}

public final class Sigmoid: Module {
    public override func forward(_ x: Tensor) throws -> Tensor { x.sigmoid() }
}

/// Softmax along `dim` (0-based; negative counts from the end).
public final class Softmax: Module {
    public let dim: Int
    public init(dim: Int) {
        self.dim = dim
        super.init()
    }
    public override func forward(_ x: Tensor) throws -> Tensor { try x.softmax(dim: dim) }
    public override var optionsDescription: String { "dim=\(dim)" }
}
