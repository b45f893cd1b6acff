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

/// A broadcast of two operands to an output shape as runs of consecutive output values: the
/// dimensions merged wherever both operands' layouts allow, the innermost merged dimension one
/// run in which the operands advance by `innerA` and `innerB` (0: one value repeated, as a
/// per-channel bias over a plane; 1: contiguous). Kernels loop over a run without index
/// arithmetic, which the compiler vectorizes.
struct BroadcastRuns {
    /// Merged dimensions, the run last; with the operands' strides along them.
    private let shape: [Int], aStrides: [Int], bStrides: [Int]
    /// Values per run, and how many runs cover the output.
    let length: Int, count: Int
    let innerA: Int, innerB: Int

    init(_ outShape: [Int], _ aStrides: [Int], _ bStrides: [Int]) {
        var shape: [Int] = [], sa: [Int] = [], sb: [Int] = []  // innermost first while merging
        for d in stride(from: outShape.count - 1, through: 0, by: -1) where outShape[d] != 1 {
            if let size = shape.last, let a = sa.last, let b = sb.last,
               aStrides[d] == a * size, bStrides[d] == b * size {
                shape[shape.count - 1] = size * outShape[d]
            } else {
                shape.append(outShape[d]); sa.append(aStrides[d]); sb.append(bStrides[d])
            }
        }
        if shape.isEmpty { shape = [1]; sa = [0]; sb = [0] }
        self.shape = shape.reversed(); self.aStrides = sa.reversed(); self.bStrides = sb.reversed()
        length = shape[0]
        count = outShape.contains(0) ? 0 : shape.dropFirst().reduce(1, *)
        innerA = sa[0]; innerB = sb[0]
    }

    /// Calls `body(out, a, b)` with the flat start positions of runs `runs` (in order) in the
    /// output and in the two operands.
    @inline(__always)
    func forEach(_ runs: Range<Int>, _ body: (Int, Int, Int) -> Void) {
        guard !runs.isEmpty else { return }
        let outer = shape.count - 1
        var counter = [Int](repeating: 0, count: outer)
        var ia = 0, ib = 0, rest = runs.lowerBound
        for d in stride(from: outer - 1, through: 0, by: -1) {
            counter[d] = rest % shape[d]
            rest /= shape[d]
            ia += counter[d] * aStrides[d]; ib += counter[d] * bStrides[d]
        }
        for run in runs {
            body(run * length, ia, ib)
            // Advance the odometer over the outer dimensions.
            var d = outer - 1
            while d >= 0 {
                counter[d] += 1
                ia += aStrides[d]; ib += bStrides[d]
                if counter[d] < shape[d] { break }
                ia -= aStrides[d] * shape[d]; ib -= bStrides[d] * shape[d]
                counter[d] = 0
                d -= 1
            }
        }
    }
}

/// `f(a, b)` broadcast to `shape` (`broadcastShape`), run by run, across the cores when large.
@inline(__always)
func broadcastValues<F: BinaryFunction>(_ a: UnsafePointer<Float>, _ aShape: [Int], _ b: UnsafePointer<Float>, _ bShape: [Int],
                                        to shape: [Int], _ f: F) -> [Float] {
    let runs = BroadcastRuns(shape, broadcastStrides(aShape, to: shape), broadcastStrides(bShape, to: shape))
    let length = runs.length, sa = runs.innerA, sb = runs.innerB
    return uninitializedFloats(runs.count * length) { out in
        parallelRanges(runs.count, cost: length) { range in
            runs.forEach(range) { o, i, j in
                let po = out + o, pa = a + i, pb = b + j
                if sa == 1 && sb == 0 {
                    let v = pb[0]
                    for k in 0..<length { po[k] = f(pa[k], v) }
                } else if sa == 0 && sb == 1 {
                    let v = pa[0]
                    for k in 0..<length { po[k] = f(v, pb[k]) }
                } else if sa == 1 && sb == 1 {
                    for k in 0..<length { po[k] = f(pa[k], pb[k]) }
                } else {
                    for k in 0..<length { po[k] = f(pa[k * sa], pb[k * sb]) }
                }
            }
        }
    }
}

extension Tensor {
    /// Sums over broadcast dimensions so the result has `target`'s shape: the gradient of a
    /// broadcast operand. Values are added in the order of `self`, run by run.
    func sumTo(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        let out = Tensor.zerosUnchecked(target)
        let strides = broadcastStrides(target, to: shape)
        let runs = BroadcastRuns(shape, strides, strides)
        let length = runs.length, step = runs.innerA
        storage.withUnsafeBufferPointer { src in
            out.storage.withUnsafeMutableBufferPointer { dst in
                guard let ps = src.baseAddress, let pd = dst.baseAddress else { return }
                runs.forEach(0..<runs.count) { o, t, _ in
                    let from = ps + o, to = pd + t
                    if step == 0 {
                        var total = to[0]
                        for k in 0..<length { total += from[k] }
                        to[0] = total
                    } else {
                        for k in 0..<length { to[k * step] += from[k] }
                    }
                }
            }
        }
        return out
    }
}
