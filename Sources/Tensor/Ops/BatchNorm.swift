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
        // The statistics as they are now: the rule must not see later updates of the buffers.
        let means = runningMean.storage
        // Constants, not variables: the rule reads them without exclusivity checks.
        let invStd = runningVar.storage.map { 1 / ($0 + eps).squareRoot() }
        let scale = (0..<c).map { (weight?.storage[$0] ?? 1) * invStd[$0] }
        let shift = (0..<c).map { (bias?.storage[$0] ?? 0) - means[$0] * scale[$0] }
        let (outer, _, inner) = splitAround(x.shape, 1)
        let out = x.storage.withUnsafeBufferPointer { px in
            uninitializedFloats(x.count) { po in
                guard let src = px.baseAddress else { return }
                applyPerChannel(outer: outer, channels: c, inner: inner) { plane, ch in
                    let s = scale[ch], t = shift[ch]
                    for i in plane { po[i] = src[i] * s + t }
                }
            }
        }
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
            var sumG: [Float] = [], sumGXhat: [Float] = []
            if needWeight || needBias {
                (sumG, sumGXhat) = batchNormGradientSums(g, x, outer: outer, channels: c, inner: inner, means: means, invStd: invStd)
            }
            if weight != nil { grads.append(need[grads.count] ? Tensor(uncheckedShape: [c], storage: sumGXhat) : nil) }
            if bias != nil { grads.append(need[grads.count] ? Tensor(uncheckedShape: [c], storage: sumG) : nil) }
            return grads
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
