/// Transposed 2-D convolution, as PyTorch's `conv_transpose2d`: the adjoint of `conv2d` with
/// respect to its input. It runs on the convolution's kernels with the roles swapped: the
/// forward pass is conv2d's input-gradient pass (Wᵀ·x, then fold), the input gradient is a
/// plain conv2d, and the weight gradient is conv2d's weight-gradient pass with input and
/// output exchanged.

public struct ConvTranspose2dOptions: Equatable {
    public var stride: (Int, Int)
    public var padding: (Int, Int)
    /// Extra rows and columns on the bottom and right of the output, to pick among the output
    /// sizes that a strided convolution maps to the same input size.
    public var outputPadding: (Int, Int)
    public var dilation: (Int, Int)
    public var groups: Int
    public init(stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0),
                dilation: (Int, Int) = (1, 1), groups: Int = 1) {
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        self.dilation = dilation
        self.groups = groups
    }
    public static func == (a: ConvTranspose2dOptions, b: ConvTranspose2dOptions) -> Bool {
        a.stride == b.stride && a.padding == b.padding && a.outputPadding == b.outputPadding
            && a.dilation == b.dilation && a.groups == b.groups
    }

    /// The convolution this one is the transpose of.
    var forwardConvolution: Conv2dOptions {
        Conv2dOptions(stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

extension ConvGeometry {
    /// The geometry of the convolution whose input has the transposed convolution's output size
    /// and whose output is the transposed convolution's input: weight (in, out/groups, kH, kW)
    /// is then that convolution's (out, in/groups, kH, kW).
    init(transposedInput input: [Int], weight: [Int], options opts: ConvTranspose2dOptions, op: String) throws {
        guard input.count == 4 else {
            throw TensorError("\(op): expected input of size (N, C, H, W), got \(describeShape(input))")
        }
        guard weight.count == 4 else {
            throw TensorError("\(op): expected weight of size (in, out/groups, kH, kW), got \(describeShape(weight))")
        }
        guard opts.stride.0 > 0, opts.stride.1 > 0, opts.dilation.0 > 0, opts.dilation.1 > 0, opts.padding.0 >= 0, opts.padding.1 >= 0,
              opts.outputPadding.0 >= 0, opts.outputPadding.1 >= 0 else {
            throw TensorError("\(op): stride and dilation must be positive, padding and output_padding >= 0")
        }
        guard opts.outputPadding.0 < Swift.max(opts.stride.0, opts.dilation.0), opts.outputPadding.1 < Swift.max(opts.stride.1, opts.dilation.1) else {
            throw TensorError("\(op): output_padding (\(opts.outputPadding.0), \(opts.outputPadding.1)) must be smaller than stride or dilation")
        }
        guard opts.groups > 0, input[1] % opts.groups == 0 else {
            throw TensorError("\(op): groups (\(opts.groups)) must divide input channels (\(input[1]))")
        }
        guard weight[0] == input[1] else {
            throw TensorError("\(op): weight of size \(describeShape(weight)) expects \(weight[0]) input channels, got \(input[1])")
        }
        guard weight[1] > 0, weight[2] > 0, weight[3] > 0 else {
            throw TensorError("\(op): weight of size \(describeShape(weight)) has an empty dimension")
        }
        n = input[0]
        o = input[1]
        c = weight[1] * opts.groups
        (kh, kw) = (weight[2], weight[3])
        (sh, sw) = opts.stride
        (ph, pw) = opts.padding
        (dh, dw) = opts.dilation
        groups = opts.groups
        (oh, ow) = (input[2], input[3])
        h = (oh - 1) * sh - 2 * ph + dh * (kh - 1) + opts.outputPadding.0 + 1
        w = (ow - 1) * sw - 2 * pw + dw * (kw - 1) + opts.outputPadding.1 + 1
        guard oh > 0, ow > 0, h > 0, w > 0 else {
            throw TensorError("\(op): input of size \(describeShape(input)) gives an empty output (\(h)x\(w))")
        }
    }
}

extension Tensor {
    /// `x` (N, in, H, W), `weight` (in, out/groups, kH, kW), `bias` (out). The output is
    /// (N, out, (H-1)·stride - 2·padding + dilation·(kH-1) + output_padding + 1, ...).
    public static func convTranspose2d(_ x: Tensor, weight: Tensor, bias: Tensor?,
                                       options: ConvTranspose2dOptions = ConvTranspose2dOptions()) throws -> Tensor {
        let g = try ConvGeometry(transposedInput: x.shape, weight: weight.shape, options: options, op: "conv_transpose2d")
        if let bias, bias.shape != [g.c] {
            throw TensorError("conv_transpose2d: expected bias of size \(g.c), got \(describeShape(bias.shape))")
        }
        var out = [Float](repeating: 0, count: try checkedCount([g.n, g.c, g.h, g.w]))
        // conv2d's input gradient with x as the output gradient: on oneDNN when it takes the shape.
        let onOneDNN = try x.storage.withUnsafeBufferPointer { px in
            try weight.storage.withUnsafeBufferPointer { pw in
                try out.withUnsafeMutableBufferPointer { po in
                    guard let xp = px.baseAddress, let wp = pw.baseAddress, let outp = po.baseAddress else { return false }
                    return try OneDNNConvolution.inputGradient(g, gradOutput: xp, weight: wp, into: outp)
                }
            }
        }
        var col = [Float](repeating: 0, count: onOneDNN ? 1 : g.unfoldedCount)
        var staging = [Float](repeating: 0, count: onOneDNN ? 1 : g.stagingCount)
        x.storage.withUnsafeBufferPointer { px in
            weight.storage.withUnsafeBufferPointer { pw in
                col.withUnsafeMutableBufferPointer { pcol in
                    staging.withUnsafeMutableBufferPointer { pst in
                        out.withUnsafeMutableBufferPointer { pout in
                            guard let xb = px.baseAddress, let wp = pw.baseAddress, let colp = pcol.baseAddress,
                                  let stp = pst.baseAddress, let outp = pout.baseAddress else { return }
                            // Only read through: the layout conversion copies from it.
                            let xp = UnsafeMutablePointer(mutating: xb)
                            // conv2d's input gradient with x as the output gradient; the
                            // convolution's input (its first argument) is read only for dW.
                            for s0 in stride(from: 0, to: g.n, by: g.chunk) where !onOneDNN {
                                g.backwardChunk(x: xb, weight: wp, gy: xp, s0: s0, nb: Swift.min(g.chunk, g.n - s0), parts: threadCount,
                                                col: colp, staging: stp, dx: outp, dw: nil)
                            }
                            if let bias {
                                let plane = g.h * g.w
                                parallelFor(g.n) { s in
                                    for ci in 0..<g.c {
                                        let b = bias.storage[ci], row = outp + (s * g.c + ci) * plane
                                        for i in 0..<plane { row[i] += b }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return Tensor(uncheckedShape: [g.n, g.c, g.h, g.w], storage: out).recording("conv_transpose2d", inputs) { grad, need in
            var grads: [Tensor?] = [nil, nil]
            if need[0] {
                // The adjoint of the adjoint: a convolution. With output_padding at least the
                // stride it yields extra trailing rows or columns no input position feeds.
                var dx = try Tensor.conv2d(grad, weight: weight.detached(), bias: nil, options: options.forwardConvolution)
                if dx.shape[2] != g.oh { dx = try dx.slice(dim: 2, start: 0, end: g.oh) }
                if dx.shape[3] != g.ow { dx = try dx.slice(dim: 3, start: 0, end: g.ow) }
                grads[0] = dx
            }
            if need[1] { grads[1] = try convTransposeWeightGradient(g, x: x, gradOutput: grad, weightShape: weight.shape) }
            if bias != nil { grads.append(need[2] ? try grad.sum(dim: 3).sum(dim: 2).sum(dim: 0) : nil) }
            return grads
        }
    }
}

/// dW = x · unfold(gradOutput)ᵀ per group: conv2d's weight gradient with the output gradient
/// as the convolution's input and `x` as its output gradient.
private func convTransposeWeightGradient(_ g: ConvGeometry, x: Tensor, gradOutput: Tensor, weightShape: [Int]) throws -> Tensor {
    var dw = [Float](repeating: 0, count: weightShape.reduce(1, *))
    let onOneDNN = try x.storage.withUnsafeBufferPointer { px in
        try gradOutput.storage.withUnsafeBufferPointer { pg in
            try dw.withUnsafeMutableBufferPointer { pdw in
                guard let xp = px.baseAddress, let gp = pg.baseAddress, let dwp = pdw.baseAddress else { return false }
                return try OneDNNConvolution.weightGradient(g, x: gp, gradOutput: xp, into: dwp, bias: nil)
            }
        }
    }
    if onOneDNN { return Tensor(uncheckedShape: weightShape, storage: dw) }
    var col = [Float](repeating: 0, count: g.unfoldedCount)
    var staging = [Float](repeating: 0, count: g.stagingCount)
    x.storage.withUnsafeBufferPointer { px in
        gradOutput.storage.withUnsafeBufferPointer { pg in
            col.withUnsafeMutableBufferPointer { pcol in
                staging.withUnsafeMutableBufferPointer { pst in
                    dw.withUnsafeMutableBufferPointer { pdw in
                        guard let xb = px.baseAddress, let gp = pg.baseAddress, let colp = pcol.baseAddress,
                              let stp = pst.baseAddress, let dwp = pdw.baseAddress else { return }
                        // The weight is read only for the input gradient, not asked for here.
                        let unusedWeight = UnsafePointer(dwp)
                        for s0 in stride(from: 0, to: g.n, by: g.chunk) {
                            g.backwardChunk(x: gp, weight: unusedWeight, gy: UnsafeMutablePointer(mutating: xb), s0: s0,
                                            nb: Swift.min(g.chunk, g.n - s0), parts: threadCount, col: colp, staging: stp, dx: nil, dw: dwp)
                        }
                    }
                }
            }
        }
    }
    return Tensor(uncheckedShape: weightShape, storage: dw)
}
