/// Broadcasting as in NumPy and PyTorch: shapes are aligned on the right, and a dimension of 1
/// (or a missing one) stretches to match. `sumTo` is the single place that undoes it for gradients.

func broadcastShape(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
    let rank = max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        if da == db || db == 1 {
            out[i] = da
        } else if da == 1 {
            out[i] = db
        } else {
            throw TensorError("\(op): sizes \(describeShape(a)) and \(describeShape(b)) cannot be broadcast together (dimension \(i + 1): \(da) vs \(db))")
        }
    }
    _ = try checkedCount(out)  // the result of two small tensors can be huge ((N, 1) with (1, M))
    return out
}

/// Strides of `shape` seen as `target` (right-aligned), 0 along broadcast dimensions.
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let own = stridesOf(shape)
    let offset = target.count - shape.count
    return (0..<target.count).map { i in
        i < offset || shape[i - offset] == 1 ? 0 : own[i - offset]
    }
}

/// Calls `body(outIndex, aIndex, bIndex)` for every element of `outShape`, with the flat
/// positions in two broadcast operands. The innermost dimension runs as a tight loop.
@inline(__always)
func forEachBroadcast(_ outShape: [Int], _ aStrides: [Int], _ bStrides: [Int], _ body: (Int, Int, Int) -> Void) {
    let rank = outShape.count
    let total = outShape.reduce(1, *)
    if total == 0 { return }
    if rank == 0 { body(0, 0, 0); return }
    let inner = outShape[rank - 1], sa = aStrides[rank - 1], sb = bStrides[rank - 1]
    var counter = [Int](repeating: 0, count: rank)
    var ia = 0, ib = 0, o = 0
    while o < total {
        var ja = ia, jb = ib
        for _ in 0..<inner {
            body(o, ja, jb)
            o += 1; ja += sa; jb += sb
        }
        // Advance the odometer over the outer dimensions.
        var d = rank - 2
        while d >= 0 {
            counter[d] += 1
            ia += aStrides[d]; ib += bStrides[d]
            if counter[d] < outShape[d] { break }
            ia -= aStrides[d] * outShape[d]; ib -= bStrides[d] * outShape[d]
            counter[d] = 0
            d -= 1
        }
    }
}

extension Tensor {
    /// Sums over broadcast dimensions so the result has `target`'s shape: the gradient of a
    /// broadcast operand.
    func sumTo(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        let out = Tensor.zerosUnchecked(target)
        let strides = broadcastStrides(target, to: shape)
        let zero = [Int](repeating: 0, count: shape.count)
        storage.withUnsafeBufferPointer { src in
            out.storage.withUnsafeMutableBufferPointer { dst in
                forEachBroadcast(shape, strides, zero) { o, t, _ in dst[t] += src[o] }
            }
        }
        return out
    }
}
