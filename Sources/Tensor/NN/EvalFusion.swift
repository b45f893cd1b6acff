/// Eval-mode fusion: a convolution followed by batch norm, by ReLU, or by both runs as one
/// convolution. Batch norm with fixed statistics is an affine map per channel, so it folds into
/// the convolution's weight and bias (w' = w·s, b' = (b - mean)·s + β with s = γ/√(var+eps));
/// the ReLU runs inside the convolution (a oneDNN post-op). One pass over the output instead of
/// three. In training mode batch norm uses the batch's statistics and nothing is fused.
///
/// Gradients flow through the fused op to the input and to every parameter of the convolution
/// and the batch norm, as through the three ops.

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
        guard OneDNN.enabled, let conv = modules[start] as? Conv2d, !conv.isTraining else { return nil }
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

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let w = conv.weight, options = conv.options
        let g = try ConvGeometry(input: x.shape, weight: w.shape, options: options, op: "conv2d")
        let channels = g.o, perChannel = g.cg * g.kh * g.kw
        // The batch norm as y = s·z + t per channel (identity without one).
        var scale = [Float](repeating: 1, count: channels), shift = [Float](repeating: 0, count: channels)
        var invStd = [Float](repeating: 1, count: channels), means = [Float](repeating: 0, count: channels)
        if let bn = batchNorm {
            for o in 0..<channels {
                invStd[o] = 1 / (bn.runningVar.storage[o] + bn.eps).squareRoot()
                means[o] = bn.runningMean.storage[o]
                scale[o] = bn.weight.storage[o] * invStd[o]
                shift[o] = bn.bias.storage[o]
            }
        }
        let convBias = conv.bias?.storage ?? [Float](repeating: 0, count: channels)
        var foldedWeight = w.storage
        for o in 0..<channels {
            for i in (o * perChannel)..<((o + 1) * perChannel) { foldedWeight[i] *= scale[o] }
        }
        let foldedBias = (0..<channels).map { (convBias[$0] - means[$0]) * scale[$0] + shift[$0] }
        let out = try convolutionForward(g, x: x.storage, weight: foldedWeight, bias: foldedBias, relu: relu)

        var inputs = [x, w]
        if let b = conv.bias { inputs.append(b) }
        if let bn = batchNorm { inputs += [bn.weight, bn.bias] }
        let hasConvBias = conv.bias != nil, relu = self.relu
        return Tensor(uncheckedShape: [g.n, g.o, g.oh, g.ow], storage: out).recording("conv2d_fused", inputs) { grad, need in
            // Through the ReLU: zero where it cut.
            var gz = grad.storage
            if relu { for i in gz.indices where out[i] <= 0 { gz[i] = 0 } }
            var grads: [Tensor?] = [nil]
            if need[0] { grads[0] = Tensor(uncheckedShape: x.shape, storage: try convolutionInputGradient(g, gradOutput: gz, weight: foldedWeight)) }
            let needParameters = need.dropFirst().contains(true)
            guard needParameters else { return grads + [Tensor?](repeating: nil, count: need.count - 1) }
            // Gradients of the folded weight and bias, then back to the parameters they came from.
            let (dFoldedWeight, db) = try convolutionWeightGradient(g, x: x.storage, gradOutput: gz, bias: true)
            let dFoldedBias = db ?? channelSums(gz, channels: channels, inner: g.oh * g.ow)
            grads.append(Tensor(uncheckedShape: w.shape, storage: (0..<dFoldedWeight.count).map { dFoldedWeight[$0] * scale[$0 / perChannel] }))
            if hasConvBias { grads.append(Tensor(uncheckedShape: [channels], storage: (0..<channels).map { dFoldedBias[$0] * scale[$0] })) }
            if batchNorm != nil {
                // dL/ds = Σ dw'·w + db'·(b - mean); s = γ·invStd.
                let dGamma = (0..<channels).map { o -> Float in
                    var sum: Float = 0
                    for i in (o * perChannel)..<((o + 1) * perChannel) { sum += dFoldedWeight[i] * w.storage[i] }
                    return (sum + dFoldedBias[o] * (convBias[o] - means[o])) * invStd[o]
                }
                grads.append(Tensor(uncheckedShape: [channels], storage: dGamma))
                grads.append(Tensor(uncheckedShape: [channels], storage: dFoldedBias))
            }
            return zip(grads, need).map { $1 ? $0 : nil }
        }
    }
}

/// Per-channel sums of an (N, C, inner) layout.
private func channelSums(_ values: [Float], channels: Int, inner: Int) -> [Float] {
    var sums = [Float](repeating: 0, count: channels)
    guard channels > 0, inner > 0 else { return sums }
    for (plane, start) in stride(from: 0, to: values.count, by: inner).enumerated() {
        var s: Float = 0
        for i in start..<(start + inner) { s += values[i] }
        sums[plane % channels] += s
    }
    return sums
}

extension Module {
    /// Runs `chain` in order on `x`, as `run` each, with eval-mode convolutions fused with the
    /// batch norm and ReLU after them; an error names the first module of a fused run.
    public func runChain(_ chain: [(name: String, module: Module)], _ x: Tensor) throws -> Tensor {
        let modules = chain.map(\.module)
        var y = x, i = 0
        while i < chain.count {
            if let fused = FusedConvolution.at(i, of: modules) {
                do {
                    y = try fused(y)
                } catch let error as TensorError {
                    throw TensorError("\(typeName).\(chain[i].name) (\(fused.conv.typeName)): \(error.message)")
                }
                i += fused.length
            } else {
                y = try run(chain[i].module, named: chain[i].name, y)
                i += 1
            }
        }
        return y
    }
}
