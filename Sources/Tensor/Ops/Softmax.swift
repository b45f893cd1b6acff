import Foundation

/// Softmax and log-softmax along a dimension, stable for large logits (the maximum is
/// subtracted first).

extension Tensor {
    public func logSoftmax(dim: Int) throws -> Tensor {
        let d = try normalizedDim(dim, "log_softmax")
        guard rank > 0 else { throw TensorError("log_softmax: expected a tensor with at least one dimension") }
        let (outer, n, inner) = splitAround(shape, d)
        let out = storage.withUnsafeBufferPointer { p in
            uninitializedFloats(count) { o in
                guard let p = p.baseAddress else { return }
                forEachLine(outer: outer, n: n, inner: inner) { base in
                    var m = -Float.infinity
                    for k in 0..<n { m = Swift.max(m, p[base + k * inner]) }
                    if !m.isFinite { m = 0 }
                    var s: Float = 0
                    for k in 0..<n { s += Foundation.exp(p[base + k * inner] - m) }
                    // (x - max) - log(s), not x - (max + log(s)): adding log(s) to a large
                    // maximum would round it to the maximum's precision.
                    let logS = Foundation.log(s)
                    for k in 0..<n { o[base + k * inner] = (p[base + k * inner] - m) - logS }
                }
            }
        }
        let x = self
        let y = Tensor(uncheckedShape: shape, storage: out)
        // The values, not `y`: a rule that held its own result would keep the graph alive forever.
        let values = out
        return y.recording("log_softmax", [x]) { g, _ in
            // dx = g - softmax * sum(g) along the dimension.
            let dx = alongDimension(g, values, outer: outer, n: n, inner: inner) { gp, yp, dx, base in
                var s: Float = 0
                for k in 0..<n { s += gp[base + k * inner] }
                for k in 0..<n { dx[base + k * inner] = gp[base + k * inner] - Foundation.exp(yp[base + k * inner]) * s }
            }
            return [Tensor(uncheckedShape: x.shape, storage: dx)]
        }
    }

    public func softmax(dim: Int) throws -> Tensor {
        let d = try normalizedDim(dim, "softmax")
        let y = try withoutGrad { try logSoftmax(dim: d) }.map(Exponential())
        let x = self
        let (outer, n, inner) = splitAround(shape, d)
        // The values, not `y`: a rule that held its own result would keep the graph alive forever.
        let values = y.storage
        return y.recording("softmax", [x]) { g, _ in
            // dx = y * (g - sum(g * y)) along the dimension.
            let dx = alongDimension(g, values, outer: outer, n: n, inner: inner) { gp, yp, dx, base in
                var s: Float = 0
                for k in 0..<n { s += gp[base + k * inner] * yp[base + k * inner] }
                for k in 0..<n { dx[base + k * inner] = yp[base + k * inner] * (gp[base + k * inner] - s) }
            }
            return [Tensor(uncheckedShape: x.shape, storage: dx)]
        }
    }
}

/// `body(base)` for every line along the softmax's dimension (values `base + k * inner`, k < n),
/// the lines in pieces across the cores: each line's arithmetic is its own, so the values do
/// not depend on the split. A line costs about an exp per value (counted as 16 values touched).
@inline(__always)
private func forEachLine(outer: Int, n: Int, inner: Int, _ body: (Int) -> Void) {
    parallelRanges(outer * inner, cost: 16 * n) { lines in
        for line in lines { body((line / inner) * n * inner + line % inner) }
    }
}

/// The gradient loop of a softmax: `body(g, y, dx, base)` for every line along the dimension
/// (values `base + k * inner`, k < n), which it must write entirely.
@inline(__always)
private func alongDimension(_ g: Tensor, _ y: [Float], outer: Int, n: Int, inner: Int,
                            _ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> [Float] {
    g.storage.withUnsafeBufferPointer { pg in
        y.withUnsafeBufferPointer { py in
            uninitializedFloats(outer * n * inner) { dx in
                guard let gp = pg.baseAddress, let yp = py.baseAddress else { return }
                forEachLine(outer: outer, n: n, inner: inner) { body(gp, yp, dx, $0) }
            }
        }
    }
}
