/// Batch normalization over the channel dimension (dimension 1) of (N, C, ...) inputs.

extension Tensor {
    /// Eval mode: normalizes with the running statistics.
    /// Train mode: normalizes with the batch statistics (biased variance) and updates the running
    /// ones in place with `momentum` (unbiased variance), as PyTorch does.
    public static func batchNorm(_ x: Tensor, runningMean: Tensor, runningVar: Tensor, weight: Tensor?, bias: Tensor?,
                                 training: Bool, momentum: Float = 0.1, eps: Float = 1e-5) throws -> Tensor {
        guard x.rank >= 2 else { throw TensorError("batch_norm: expected input of size (N, C, ...), got \(describeShape(x.shape))") }
        let c = x.shape[1]
        for (name, t) in [("running_mean", runningMean), ("running_var", runningVar), ("weight", weight), ("bias", bias)] {
            if let t, t.shape != [c] {
                throw TensorError("batch_norm: expected \(name) of size \(c), got \(describeShape(t.shape))")
            }
        }
        if training {
            return try batchNormTraining(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                                         momentum: momentum, eps: eps)
        }
        // Eval: one affine map per channel.
        let affine = BatchNormAffine(runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias, eps: eps)
        let scale = affine.scale, shift = affine.shift
        let (outer, _, inner) = splitAround(x.shape, 1)
        let out = channelAffine(x.storage, scale: scale, shift: shift, outer: outer, channels: c, inner: inner)
        var inputs = [x]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        return Tensor(uncheckedShape: x.shape, storage: out).recording("batch_norm", inputs) { g, need in
            var grads: [Tensor?] = []
            let gradInput: [Float]? = !need[0] ? nil : g.storage.withUnsafeBufferPointer { pg in
                uninitializedFloats(x.count) { dx in
                    guard let gp = pg.baseAddress else { return }
                    applyPerChannel(outer: outer, channels: c, inner: inner) { plane, ch in
                        let s = scale[ch]
                        for i in plane { dx[i] = gp[i] * s }
                    }
                }
            }
            grads.append(gradInput.map { Tensor(uncheckedShape: x.shape, storage: $0) })
            // d/dweight = sum(g * x_hat), d/dbias = sum(g), over all but the channel dimension;
            // only when asked for (an attack never is).
            let needWeight = weight != nil && need[1]
            let needBias = bias != nil && need[weight != nil ? 2 : 1]
            let sums = needWeight || needBias ? affine.parameterGradients(gradOutput: g.storage, input: x.storage, outer: outer, inner: inner) : nil
            if weight != nil { grads.append(need[grads.count] ? sums.map { Tensor(uncheckedShape: [c], storage: $0.weight) } : nil) }
            if bias != nil { grads.append(need[grads.count] ? sums.map { Tensor(uncheckedShape: [c], storage: $0.bias) } : nil) }
            return grads
        }
    }
}

/// An eval-mode batch norm as the affine map per channel it is: y = x·scale + shift, with
/// scale = weight / √(running_var + eps) and shift = bias - running_mean·scale. The batch norm
/// and the convolution that fuses it (ConvolutionFusion.swift) both compute exactly this, so
/// their results agree to the bit.
struct BatchNormAffine {
    /// The statistics as they were when the map was made: a gradient rule must not see later
    /// updates of the buffers.
    let means: [Float], invStd: [Float]
    let scale: [Float], shift: [Float]

    init(runningMean: Tensor, runningVar: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) {
        let c = runningMean.count
        let means = runningMean.storage
        let invStd = runningVar.storage.map { 1 / ($0 + eps).squareRoot() }
        let scale = (0..<c).map { (weight?.storage[$0] ?? 1) * invStd[$0] }
        self.means = means
        self.invStd = invStd
        self.scale = scale
        shift = (0..<c).map { (bias?.storage[$0] ?? 0) - means[$0] * scale[$0] }
    }

    /// The gradients of the batch norm's weight and bias, from the gradient of its output and
    /// its input (both laid out (outer, C, inner)): Σ g·x̂ and Σ g per channel, x̂ = (x - mean)·invStd.
    func parameterGradients(gradOutput: [Float], input: [Float], outer: Int, inner: Int) -> (weight: [Float], bias: [Float]) {
        let sums = batchNormGradientSums(gradOutput, input, outer: outer, channels: means.count, inner: inner, means: means, invStd: invStd)
        return (sums.sumGXhat, sums.sumG)
    }
}

/// x · scale[channel] + shift[channel] for values laid out (outer, C, inner): batch norm's
/// output in eval and in training mode.
func channelAffine(_ x: [Float], scale: [Float], shift: [Float], outer: Int, channels c: Int, inner: Int) -> [Float] {
    x.withUnsafeBufferPointer { px in
        uninitializedFloats(x.count) { po in
            guard let src = px.baseAddress else { return }
            applyPerChannel(outer: outer, channels: c, inner: inner) { plane, ch in
                let s = scale[ch], t = shift[ch]
                for i in plane { po[i] = src[i] * s + t }
            }
        }
    }
}

/// Calls `body(range, channel)` for each (sample, channel) plane of an (N, C, ...) layout with
/// `inner` values per plane, across the cores for large inputs.
@inline(__always)
func applyPerChannel(outer: Int, channels c: Int, inner: Int, _ body: (Range<Int>, Int) -> Void) {
    parallelRanges(outer * c, cost: inner) { planes in
        for plane in planes {
            let base = plane * inner
            body(base..<(base + inner), plane % c)
        }
    }
}
