/// A convolution with an eval-mode batch norm and a ReLU after it, as one operation (also with a
/// residual block's addition before the ReLU): the batch norm with its running statistics is an
/// affine map per channel (`BatchNormAffine`), applied with the addition and the ReLU in one
/// pass over the convolution's output, in place; a ReLU right after the convolution runs inside
/// it on oneDNN (OneDNNFusedConvolution.swift). One result allocated and kept for the gradient
/// instead of three or four, one pass instead of two or three after the convolution.
///
/// The values are those of the three operations run one after the other, to the bit: the same
/// multiplication and addition per value in the same order, the same ReLU. (Folding the batch
/// norm into the weights, w·scale, would round differently, enough to move a sign-gradient
/// attack off the PyTorch fixtures.) The gradients are those of the three rules in a row: the
/// ReLU's mask and the batch norm's scale in one pass, then the convolution's.

/// What a fused convolution applies to its output z: z·scale + shift per channel (an eval-mode
/// batch norm) when there is one, then + residual (a residual block's identity) when there is
/// one, then max(·, 0) when `relu`.
struct ConvolutionEpilogue {
    let batchNorm: BatchNormAffine?
    /// Laid out as the output.
    let residual: [Float]?
    let relu: Bool

    /// Applies it in place to `values`, laid out (outer, C, inner).
    func apply(to values: inout [Float], outer: Int, channels: Int, inner: Int) {
        values.withUnsafeMutableBufferPointer { buffer in
            guard let v = buffer.baseAddress else { return }
            apply(to: v, outer: outer, channels: channels, inner: inner)
        }
    }

    /// Applies it in place to the `outer`·C·`inner` values at `v`.
    func apply(to v: UnsafeMutablePointer<Float>, outer: Int, channels: Int, inner: Int) {
        let relu = self.relu, affine = batchNorm != nil
        let scale = batchNorm?.scale ?? [], shift = batchNorm?.shift ?? []
        withOptionalPointer(residual) { residual in
            // The flags are the same for the whole loop: the compiler takes the branches out.
            applyPerChannel(outer: outer, channels: channels, inner: inner) { plane, ch in
                let s = affine ? scale[ch] : 1, t = affine ? shift[ch] : 0
                for i in plane {
                    v[i] = Self.value(v[i], affine: affine, scale: s, shift: t, residual: residual, at: i, relu: relu)
                }
            }
        }
    }

    /// One value of the result from the convolution's `z`, with the arithmetic of BatchNorm, of
    /// the addition (`residual[i]`) and of ReLU (`v > 0 ? v : 0`, so NaN gives 0 as there).
    @inline(__always)
    static func value(_ z: Float, affine: Bool, scale s: Float, shift t: Float, residual: UnsafePointer<Float>?, at i: Int,
                      relu: Bool) -> Float {
        var y = z
        if affine { y = y * s + t }
        if let residual { y = y + residual[i] }
        if relu { y = y > 0 ? y : 0 }
        return y
    }

    /// The gradient with respect to the ReLU's input (the batch norm's output, and the residual),
    /// from the gradient `g` of the fused result `output`: ReLU's rule, g where the output is positive.
    func reluGradient(_ g: [Float], output: [Float], outer: Int, channels: Int, inner: Int) -> [Float] {
        guard relu else { return g }
        return mapped(g, output: output, outer: outer, channels: channels, inner: inner, mask: true, scale: nil)
    }

    /// The gradient with respect to the convolution's output z: ReLU's rule, then BatchNorm's
    /// (times scale), in one pass.
    func convolutionOutputGradient(_ g: [Float], output: [Float], outer: Int, channels: Int, inner: Int) -> [Float] {
        guard let scale = batchNorm?.scale else { return reluGradient(g, output: output, outer: outer, channels: channels, inner: inner) }
        return mapped(g, output: output, outer: outer, channels: channels, inner: inner, mask: relu, scale: scale)
    }

    /// g times ReLU's mask (`output > 0`) when `mask`, then times the channel's `scale` when
    /// given, across the cores. One plain loop per case, so each vectorizes (a rule passed as a
    /// closure was called per value and made the small CNN's PGD-10 a third slower).
    private func mapped(_ g: [Float], output: [Float], outer: Int, channels: Int, inner: Int,
                        mask: Bool, scale: [Float]?) -> [Float] {
        g.withUnsafeBufferPointer { pg in
            output.withUnsafeBufferPointer { po in
                uninitializedFloats(g.count) { d in
                    guard let gp = pg.baseAddress, let op = po.baseAddress else { return }
                    applyPerChannel(outer: outer, channels: channels, inner: inner) { plane, ch in
                        let (start, end) = (plane.lowerBound, plane.upperBound)
                        switch (mask, scale) {
                        case (true, let scale?):
                            let s = scale[ch]
                            for i in start..<end { d[i] = (gp[i] * (op[i] > 0 ? 1 : 0)) * s }
                        case (false, let scale?):
                            let s = scale[ch]
                            for i in start..<end { d[i] = gp[i] * s }
                        case (true, nil):
                            for i in start..<end { d[i] = gp[i] * (op[i] > 0 ? 1 : 0) }
                        case (false, nil):
                            for i in start..<end { d[i] = gp[i] }
                        }
                    }
                }
            }
        }
    }
}

/// The parameters of an eval-mode batch norm for `Tensor.conv2d(_:weight:bias:options:batchNorm:residual:relu:)`.
public struct EvalBatchNorm {
    public let runningMean, runningVar, weight, bias: Tensor
    public let eps: Float
    public init(runningMean: Tensor, runningVar: Tensor, weight: Tensor, bias: Tensor, eps: Float) {
        (self.runningMean, self.runningVar, self.weight, self.bias, self.eps) = (runningMean, runningVar, weight, bias, eps)
    }
}

extension Tensor {
    /// conv2d, then the eval-mode batch norm `batchNorm` (when given), then + `residual` (when
    /// given; of the output's size), then ReLU (when `relu`), as one operation with the values
    /// and gradients of these in a row.
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, options: Conv2dOptions,
                              batchNorm: EvalBatchNorm?, residual: Tensor? = nil, relu: Bool) throws -> Tensor {
        let g = try ConvGeometry(input: x.shape, weight: weight.shape, options: options, op: "conv2d")
        if let bias, bias.shape != [g.o] {
            throw TensorError("conv2d: expected bias of size \(g.o), got \(describeShape(bias.shape))")
        }
        if let bn = batchNorm {
            for (name, t) in [("running_mean", bn.runningMean), ("running_var", bn.runningVar), ("weight", bn.weight), ("bias", bn.bias)]
                where t.shape != [g.o] {
                throw TensorError("batch_norm: expected \(name) of size \(g.o), got \(describeShape(t.shape))")
            }
        }
        if let residual, residual.shape != [g.n, g.o, g.oh, g.ow] {
            throw TensorError("conv2d: expected a residual of size \(describeShape([g.n, g.o, g.oh, g.ow])), got \(describeShape(residual.shape))")
        }
        let affine = batchNorm.map { BatchNormAffine(runningMean: $0.runningMean, runningVar: $0.runningVar, weight: $0.weight, bias: $0.bias, eps: $0.eps) }
        let epilogue = ConvolutionEpilogue(batchNorm: affine, residual: residual?.storage, relu: relu)
        let out = try fusedConvolutionForward(g, x: x.storage, weight: weight.storage, bias: bias?.storage, epilogue)

        var inputs = [x, weight]
        if let bias { inputs.append(bias) }
        if let bn = batchNorm { inputs += [bn.weight, bn.bias] }
        if let residual { inputs.append(residual) }
        let name = "conv2d" + (batchNorm == nil ? "" : "+batch_norm") + (residual == nil ? "" : "+add") + (relu ? "+relu" : "")
        let (outer, inner) = (g.n, g.oh * g.ow)
        return Tensor(uncheckedShape: [g.n, g.o, g.oh, g.ow], storage: out).recording(name, inputs) { grad, need in
            var grads = [Tensor?](repeating: nil, count: need.count)
            let needBias = bias != nil && need[2]
            // The gradient of the convolution's output, in our layout when the weight's or bias's
            // rule needs it; else the input gradient makes it in oneDNN's where it can.
            let gz = need[1] || needBias
                ? epilogue.convolutionOutputGradient(grad.storage, output: out, outer: outer, channels: g.o, inner: inner) : nil
            // The convolution's rule (Tensor.conv2d) on the gradient of its output.
            if need[0] {
                let dx = try gz.map { try convolutionInputGradient(g, gradOutput: $0, weight: weight.storage) }
                    ?? fusedConvolutionInputGradient(g, epilogue, grad: grad.storage, output: out, weight: weight.storage)
                grads[0] = Tensor(uncheckedShape: x.shape, storage: dx)
            }
            var db: [Float]?
            if need[1] {
                let (dw, biasGrad) = try convolutionWeightGradient(g, x: x.storage, gradOutput: gz ?? [], bias: needBias)
                grads[1] = Tensor(uncheckedShape: weight.shape, storage: dw)
                db = biasGrad
            }
            if needBias {
                grads[2] = try db.map { Tensor(uncheckedShape: [g.o], storage: $0) }
                    ?? Tensor(uncheckedShape: grad.shape, storage: gz ?? []).sum(dim: 3).sum(dim: 2).sum(dim: 0)
            }
            // The batch norm's parameters (never asked for by an attack): its rule needs its
            // input, the convolution's output, which the fused pass did not keep; computed again.
            let first = bias == nil ? 2 : 3
            if let affine, need[first] || need[first + 1] {
                let z = try convolutionForward(g, x: x.storage, weight: weight.storage, bias: bias?.storage)
                let gy = epilogue.reluGradient(grad.storage, output: out, outer: outer, channels: g.o, inner: inner)
                let sums = affine.parameterGradients(gradOutput: gy, input: z, outer: outer, inner: inner)
                if need[first] { grads[first] = Tensor(uncheckedShape: [g.o], storage: sums.weight) }
                if need[first + 1] { grads[first + 1] = Tensor(uncheckedShape: [g.o], storage: sums.bias) }
            }
            // The residual: the addition's rule passes the ReLU's on.
            if residual != nil, need[need.count - 1] {
                grads[need.count - 1] = Tensor(uncheckedShape: grad.shape,
                                               storage: epilogue.reluGradient(grad.storage, output: out, outer: outer, channels: g.o, inner: inner))
            }
            return grads
        }
    }
}

/// The values of the fused convolution: a lone ReLU inside the convolution on oneDNN where it
/// fuses exactly, else the convolution (oneDNN or im2col) and then the epilogue in one pass.
private func fusedConvolutionForward(_ g: ConvGeometry, x: [Float], weight: [Float], bias: [Float]?,
                                     _ epilogue: ConvolutionEpilogue) throws -> [Float] {
    if epilogue.batchNorm == nil, epilogue.residual == nil, epilogue.relu, OneDNNConvolution.primitive(g, .forwardReLU, bias: bias != nil) != nil {
        let (out, written) = try convolutionOutput(g, x: x, weight: weight, bias: bias) { xp, wp, bp, outp in
            try OneDNNConvolution.forwardReLU(g, x: xp, weight: wp, bias: bp, out: outp)
        }
        if written { return out }
    }
    return try convolutionForward(g, x: x, weight: weight, bias: bias, epilogue: epilogue)
}

/// The input gradient of the fused convolution from the gradient `grad` of its result `output`:
/// by Winograd's method where it takes the shape, the epilogue's rule applied as it reads the
/// tiles; on oneDNN, where it takes the convolution's output gradient in its channel-blocked
/// layout, that gradient is made straight in it (one pass instead of ours and oneDNN's
/// reorder); else `convolutionInputGradient` of it. The same values every way.
private func fusedConvolutionInputGradient(_ g: ConvGeometry, _ epilogue: ConvolutionEpilogue, grad: [Float], output: [Float],
                                           weight: [Float]) throws -> [Float] {
    let count = g.n * g.c * g.h * g.w
    // The direct kernel reads our layout and takes the gradient made below.
    if count > 0, !grad.isEmpty, !DirectConvolution.takes(g) {
        var dx = [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
        let done = try grad.withUnsafeBufferPointer { pg in
            try output.withUnsafeBufferPointer { po in
                try weight.withUnsafeBufferPointer { pw in
                    try withOptionalPointer(epilogue.batchNorm?.scale) { scale in
                        try dx.withUnsafeMutableBufferPointer { pdx in
                            guard let gp = pg.baseAddress, let op = po.baseAddress, let wp = pw.baseAddress, let dxp = pdx.baseAddress else { return false }
                            if WinogradConvolution.takes(g) {
                                let rule = WinogradConvolution.GradientRule(output: epilogue.relu ? op : nil, scale: scale)
                                return try WinogradConvolution.inputGradient(g, gradOutput: gp, weight: wp, into: dxp, rule: rule)
                            }
                            return try OneDNNConvolution.inputGradient(g, weight: wp, into: dxp) { blocked, layout in
                                epilogue.convolutionOutputGradient(gp, output: op, intoBlocked: blocked, layout, samples: g.n, channels: g.o,
                                                                   inner: g.oh * g.ow)
                            }
                        }
                    }
                }
            }
        }
        if done { return dx }
    }
    let gz = epilogue.convolutionOutputGradient(grad, output: output, outer: g.n, channels: g.o, inner: g.oh * g.ow)
    return try convolutionInputGradient(g, gradOutput: gz, weight: weight)
}
