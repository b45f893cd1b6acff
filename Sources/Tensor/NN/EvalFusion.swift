/// Eval-mode fusion in the models' forward code: a `Conv2d` followed by an eval-mode
/// `BatchNorm2d` of its channels, by a `ReLU`, or by both runs as one operation
/// (`Tensor.conv2d(_:weight:bias:options:batchNorm:residual:relu:)`, ConvolutionFusion.swift)
/// with the values and gradients of the modules run one by one; so does the end of a residual
/// block, relu(bn(conv(x)) + identity). In training mode nothing is fused (batch norm then uses
/// the batch's statistics).

/// A convolution with what follows it that can be fused into it.
struct FusedConvolution {
    let conv: Conv2d
    let batchNorm: BatchNorm2d?
    let relu: Bool
    /// How many modules of the chain it stands for.
    var length: Int { 1 + (batchNorm == nil ? 0 : 1) + (relu ? 1 : 0) }

    /// The fusion starting at `modules[start]`, when there is one: an eval-mode `Conv2d`, then
    /// optionally an eval-mode `BatchNorm2d` of matching channels, then optionally `ReLU`, at
    /// least one of the two.
    static func at(_ start: Int, of modules: [Module]) -> FusedConvolution? {
        guard let conv = modules[start] as? Conv2d, !conv.isTraining else { return nil }
        var next = start + 1
        var bn: BatchNorm2d?
        if next < modules.count, let b = modules[next] as? BatchNorm2d, !b.isTraining, b.weight.count == conv.weight.shape[0] {
            bn = b
            next += 1
        }
        let relu = next < modules.count && modules[next] is ReLU
        guard bn != nil || relu else { return nil }
        return FusedConvolution(conv: conv, batchNorm: bn, relu: relu)
    }

    /// The fused operation on `x`, with `residual` added before the ReLU when given.
    func callAsFunction(_ x: Tensor, adding residual: Tensor? = nil) throws -> Tensor {
        let bn = batchNorm.map {
            EvalBatchNorm(runningMean: $0.runningMean, runningVar: $0.runningVar, weight: $0.weight, bias: $0.bias, eps: $0.eps)
        }
        return try Tensor.conv2d(x, weight: conv.weight, bias: conv.bias, options: conv.options, batchNorm: bn, residual: residual, relu: relu)
    }
}

extension Module {
    /// Runs `chain` in order on `x`, as `run` each, with eval-mode convolutions fused with the
    /// batch norm and ReLU after them; an error names the first module of a fused run.
    public func runChain(_ chain: [(name: String, module: Module)], _ x: Tensor) throws -> Tensor {
        let modules = chain.map(\.module)
        var y = x, i = 0
        while i < chain.count {
            if let fused = FusedConvolution.at(i, of: modules) {
                y = try runFused(fused, named: chain[i].name, y)
                i += fused.length
            } else {
                y = try run(chain[i].module, named: chain[i].name, y)
                i += 1
            }
        }
        return y
    }

    /// relu(batchNorm(conv(x)) + identity), the end of a residual block, as `run` each; one fused
    /// operation in eval mode when `identity` has the convolution's output size.
    public func runResidual(_ conv: (name: String, module: Conv2d), _ batchNorm: (name: String, module: BatchNorm2d), _ x: Tensor,
                            adding identity: Tensor) throws -> Tensor {
        if let chain = FusedConvolution.at(0, of: [conv.module, batchNorm.module]), chain.batchNorm != nil,
           let g = try? ConvGeometry(input: x.shape, weight: conv.module.weight.shape, options: conv.module.options, op: "conv2d"),
           identity.shape == [g.n, g.o, g.oh, g.ow] {
            let fused = FusedConvolution(conv: chain.conv, batchNorm: chain.batchNorm, relu: true)
            return try runFused(fused, named: conv.name, x, adding: identity)
        }
        let y = try run(batchNorm.module, named: batchNorm.name, run(conv.module, named: conv.name, x))
        return try (y + identity).relu()
    }

    /// `fused` on `x` (with `residual` added before the ReLU when given); an error names the
    /// convolution, `name` in this module.
    private func runFused(_ fused: FusedConvolution, named name: String, _ x: Tensor, adding residual: Tensor? = nil) throws -> Tensor {
        do {
            return try fused(x, adding: residual)
        } catch let error as TensorError {
            throw TensorError("\(typeName).\(name) (\(fused.conv.typeName)): \(error.message)")
        }
    }
}
