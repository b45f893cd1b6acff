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
        // Per-channel view (1, C, 1, ...) so parameters broadcast.
        var channelShape = [Int](repeating: 1, count: x.rank)
        channelShape[1] = c
        let reduceDims = [0] + Array(2..<x.rank)
        if training {
            let perChannel = x.count / c
            guard perChannel > 1 else {
                throw TensorError("batch_norm: training needs more than one value per channel, got input of size \(describeShape(x.shape))")
            }
            var mean = x
            for d in reduceDims.reversed() { mean = try mean.mean(dim: d, keepDim: true) }
            let centered = try x - mean
            var variance = try centered * centered
            for d in reduceDims.reversed() { variance = try variance.mean(dim: d, keepDim: true) }
            var y = try centered / (variance + eps).sqrt()
            if let weight { y = try y * weight.reshaped(channelShape) }
            if let bias { y = try y + bias.reshaped(channelShape) }
            let unbiased = Float(perChannel) / Float(perChannel - 1)
            for i in 0..<c {
                runningMean.storage[i] = (1 - momentum) * runningMean.storage[i] + momentum * mean.storage[i]
                runningVar.storage[i] = (1 - momentum) * runningVar.storage[i] + momentum * variance.storage[i] * unbiased
            }
            return y
        }
        // Eval: one affine map per channel.
        // The statistics as they are now: the rule must not see later updates of the buffers.
        let means = runningMean.storage
        var scale = [Float](repeating: 0, count: c), shift = [Float](repeating: 0, count: c)
        var invStd = [Float](repeating: 0, count: c)
        for i in 0..<c {
            invStd[i] = 1 / (runningVar.storage[i] + eps).squareRoot()
            scale[i] = (weight?.storage[i] ?? 1) * invStd[i]
            shift[i] = (bias?.storage[i] ?? 0) - means[i] * scale[i]
        }
        let (outer, _, inner) = splitAround(x.shape, 1)
        var out = [Float](repeating: 0, count: x.count)
        x.storage.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                for a in 0..<outer {
                    for ch in 0..<c {
                        let base = (a * c + ch) * inner
                        let s = scale[ch], t = shift[ch]
                        for i in 0..<inner { po[base + i] = px[base + i] * s + t }
                    }
                }
            }
        }
        var inputs = [x]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        return Tensor(uncheckedShape: x.shape, storage: out).recording("batch_norm", inputs) { g, need in
            var grads: [Tensor?] = []
            grads.append(need[0] ? try g * Tensor(uncheckedShape: channelShape, storage: scale) : nil)
            // d/dweight = sum(g * x_hat), d/dbias = sum(g), over all but the channel dimension.
            var sumG = [Float](repeating: 0, count: c), sumGXhat = [Float](repeating: 0, count: c)
            if weight != nil || bias != nil {
                for a in 0..<outer {
                    for ch in 0..<c {
                        let base = (a * c + ch) * inner
                        let inv = invStd[ch], m = means[ch]
                        for i in 0..<inner {
                            sumG[ch] += g.storage[base + i]
                            sumGXhat[ch] += g.storage[base + i] * (x.storage[base + i] - m) * inv
                        }
                    }
                }
            }
            if weight != nil { grads.append(need[grads.count] ? Tensor(uncheckedShape: [c], storage: sumGXhat) : nil) }
            if bias != nil { grads.append(need[grads.count] ? Tensor(uncheckedShape: [c], storage: sumG) : nil) }
            return grads
        }
    }
}
