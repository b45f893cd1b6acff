public final class BatchNorm2d: Module {
    public let weight: Tensor
    public let bias: Tensor
    public let runningMean: Tensor
    public let runningVar: Tensor
    /// Kept so state dicts have PyTorch's keys; counts training batches.
    public let batchesTracked: Tensor
    public let eps: Float
    public let momentum: Float

    public init(numFeatures: Int, eps: Float = 1e-5, momentum: Float = 0.1) throws {
        guard numFeatures > 0 else { throw TensorError("BatchNorm2d: num_features must be positive, got \(numFeatures)") }
        weight = try Tensor.ones([numFeatures])
        bias = try Tensor.zeros([numFeatures])
        runningMean = try Tensor.zeros([numFeatures])
        runningVar = try Tensor.ones([numFeatures])
        batchesTracked = Tensor(scalar: 0)
        self.eps = eps
        self.momentum = momentum
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
        registerBuffer("running_mean", runningMean)
        registerBuffer("running_var", runningVar)
        registerBuffer("num_batches_tracked", batchesTracked)
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4, x.shape[1] == weight.count else {
            throw TensorError("BatchNorm2d: expected input of size (N, \(weight.count), H, W), got \(describeShape(x.shape))")
        }
        if isTraining { batchesTracked.storage[0] += 1 }
        return try Tensor.batchNorm(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                                    training: isTraining, momentum: momentum, eps: eps)
    }

    public override var optionsDescription: String { "\(weight.count), eps=\(eps), momentum=\(momentum)" }
}
