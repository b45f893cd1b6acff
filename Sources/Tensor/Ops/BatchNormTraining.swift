/// Batch normalization in train mode as one kernel: the batch's per-channel mean and biased
/// variance, the normalized output, and a backward pass of two sweeps (per-channel sums, then the
/// input gradient), as PyTorch's CPU kernel does. The same formula composed from elementwise ops
/// and reductions made a dozen passes over memory each way.

extension Tensor {
    /// Train mode of `batchNorm` (its checks done): normalizes with the batch statistics and moves
    /// the running ones towards them by `momentum` (the variance unbiased).
    static func batchNormTraining(_ x: Tensor, runningMean: Tensor, runningVar: Tensor, weight: Tensor?, bias: Tensor?,
                                  momentum: Float, eps: Float) throws -> Tensor {
        let (outer, c, inner) = splitAround(x.shape, 1)
        let perChannel = outer * inner
        guard perChannel > 1 else {
            throw TensorError("batch_norm: training needs more than one value per channel, got input of size \(describeShape(x.shape))")
        }
        // Per channel: the mean, then the mean squared deviation from it (two sweeps, so no
        // cancellation); the deviations summed per plane in floats, across planes in doubles.
        var mean = [Float](repeating: 0, count: c), variance = [Float](repeating: 0, count: c)
        x.storage.withUnsafeBufferPointer { px in
            mean.withUnsafeMutableBufferPointer { pm in
                variance.withUnsafeMutableBufferPointer { pv in
                    guard let src = px.baseAddress, let m = pm.baseAddress, let v = pv.baseAddress else { return }
                    forEachChannel(outer: outer, channels: c, inner: inner) { ch in
                        var sum = 0.0
                        for a in 0..<outer { sum += laneSumInDoubles(src + (a * c + ch) * inner, inner) }
                        let mu = Float(sum / Double(perChannel))
                        var squares = 0.0
                        for a in 0..<outer { squares += Double(laneSquaredDeviations(src + (a * c + ch) * inner, inner, from: mu)) }
                        m[ch] = mu
                        v[ch] = Float(squares / Double(perChannel))
                    }
                }
            }
        }
        let invStd = variance.map { 1 / ($0 + eps).squareRoot() }
        let gamma = weight?.storage ?? [Float](repeating: 1, count: c)
        let scale = (0..<c).map { gamma[$0] * invStd[$0] }
        let shift = (0..<c).map { (bias?.storage[$0] ?? 0) - mean[$0] * scale[$0] }
        let out = channelAffine(x.storage, scale: scale, shift: shift, outer: outer, channels: c, inner: inner)
        let unbiased = Float(perChannel) / Float(perChannel - 1)
        for i in 0..<c {
            runningMean.storage[i] = (1 - momentum) * runningMean.storage[i] + momentum * mean[i]
            runningVar.storage[i] = (1 - momentum) * runningVar.storage[i] + momentum * variance[i] * unbiased
        }

        var inputs = [x]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        let means = mean
        return Tensor(uncheckedShape: x.shape, storage: out).recording("batch_norm", inputs) { g, need in
            // Per channel: Σ g and Σ g·x̂ (x̂ = (x - mean) / std), which the weight and bias
            // gradients are and the input gradient needs.
            let (sumG, sumGXhat) = batchNormGradientSums(g.storage, x.storage, outer: outer, channels: c, inner: inner, means: means, invStd: invStd)
            var grads: [Tensor?] = []
            if need[0] {
                // dx = γ/σ · (g - mean(g) - x̂ · mean(g·x̂)), written per channel as k·g + p·x + q.
                let count = Float(perChannel)
                let k = scale
                let p = (0..<c).map { -k[$0] * invStd[$0] * sumGXhat[$0] / count }
                let q = (0..<c).map { -k[$0] * sumG[$0] / count - p[$0] * means[$0] }
                let dx = g.storage.withUnsafeBufferPointer { pg in
                    x.storage.withUnsafeBufferPointer { px in
                        uninitializedFloats(x.count) { dx in
                            guard let gp = pg.baseAddress, let xp = px.baseAddress else { return }
                            applyPerChannel(outer: outer, channels: c, inner: inner) { plane, ch in
                                let kc = k[ch], pc = p[ch], qc = q[ch]
                                for i in plane { dx[i] = kc * gp[i] + pc * xp[i] + qc }
                            }
                        }
                    }
                }
                grads.append(Tensor(uncheckedShape: x.shape, storage: dx))
            } else {
                grads.append(nil)
            }
            if weight != nil { grads.append(need[grads.count] ? Tensor(uncheckedShape: [c], storage: sumGXhat) : nil) }
            if bias != nil { grads.append(need[grads.count] ? Tensor(uncheckedShape: [c], storage: sumG) : nil) }
            return grads
        }
    }
}

/// Per channel of an (N, C, ...) layout: Σ g and Σ g·x̂ where x̂ = (x - mean)·invStd, the bias
/// and weight gradients of batch norm (eval and train).
func batchNormGradientSums(_ g: [Float], _ x: [Float], outer: Int, channels c: Int, inner: Int,
                           means: [Float], invStd: [Float]) -> (sumG: [Float], sumGXhat: [Float]) {
    var sumG = [Float](repeating: 0, count: c), sumGXhat = [Float](repeating: 0, count: c)
    g.withUnsafeBufferPointer { pg in
        x.withUnsafeBufferPointer { px in
            sumG.withUnsafeMutableBufferPointer { psg in
                sumGXhat.withUnsafeMutableBufferPointer { psx in
                    guard let gp = pg.baseAddress, let xp = px.baseAddress,
                          let sg = psg.baseAddress, let sx = psx.baseAddress else { return }
                    forEachChannel(outer: outer, channels: c, inner: inner) { ch in
                        var total = 0.0, dot = 0.0
                        for a in 0..<outer {
                            let base = (a * c + ch) * inner
                            let (s, d) = laneSumAndDot(gp + base, xp + base, inner, center: means[ch])
                            total += Double(s)
                            dot += Double(d)
                        }
                        sg[ch] = Float(total)
                        sx[ch] = Float(dot) * invStd[ch]
                    }
                }
            }
        }
    }
    return (sumG, sumGXhat)
}

/// Calls `body(channel)` for each channel of an (N, C, ...) layout with `inner` values per
/// plane, across the cores for large inputs.
@inline(__always)
func forEachChannel(outer: Int, channels c: Int, inner: Int, _ body: (Int) -> Void) {
    parallelRanges(c, cost: outer * inner) { channels in
        for ch in channels { body(ch) }
    }
}
