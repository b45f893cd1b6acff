/// Reductions over all values or along one dimension (0-based here; the Lua side converts).

/// Splits `shape` around `dim` into (outer, length, inner) for strided loops.
func splitAround(_ shape: [Int], _ dim: Int) -> (outer: Int, length: Int, inner: Int) {
    (shape[..<dim].reduce(1, *), shape[dim], shape[(dim + 1)...].reduce(1, *))
}

extension Tensor {
    /// Checks a 0-based dimension, accepting negative ones counted from the end.
    func normalizedDim(_ dim: Int, _ op: String, rank r: Int? = nil) throws -> Int {
        let r = r ?? rank
        let d = dim < 0 ? dim + r : dim
        guard d >= 0, d < Swift.max(r, 1) else {
            throw TensorError("\(op): dimension \(dim + 1) out of range for a tensor of rank \(r)")
        }
        return d
    }

    /// Shape after reducing `dim`: kept as 1 or removed.
    func reducedShape(_ dim: Int, keepDim: Bool) -> [Int] {
        var s = shape
        if keepDim { s[dim] = 1 } else { s.remove(at: dim) }
        return s
    }

    public func sum() -> Tensor {
        let total = storage.withUnsafeBufferPointer { p in p.baseAddress.map { blockedSum($0, p.count) } ?? 0 }
        let x = self
        return Tensor(scalar: Float(total)).recording("sum", [x]) { g, _ in
            [Tensor(uncheckedShape: x.shape, storage: [Float](repeating: g.storage[0], count: x.count))]
        }
    }

    public func mean() throws -> Tensor {
        guard count > 0 else { throw TensorError("mean: the tensor is empty") }
        return try sum() / Float(count)
    }

    public func sum(dim: Int, keepDim: Bool = false) throws -> Tensor {
        let d = try normalizedDim(dim, "sum")
        if rank == 0 { return sum() }
        let (outer, n, inner) = splitAround(shape, d)
        var out = [Float](repeating: 0, count: outer * inner)
        storage.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                guard let src = p.baseAddress, let dst = o.baseAddress else { return }
                if inner == 1 {
                    // Rows of contiguous values (an (N, D) tensor along D): a lane sum per row. A
                    // running sum through memory waits on each addition in turn (6% of `make run`).
                    parallelRanges(outer, cost: n) { rows in
                        for a in rows { dst[a] = Float(laneSumInDoubles(src + a * n, n)) }
                    }
                    return
                }
                // Pieces of the outputs to the cores (within a row too: sum(dim: 0) has one row),
                // each output summed over k in order.
                parallelRanges(outer * inner, cost: n) { outputs in
                    var at = outputs.lowerBound
                    while at < outputs.upperBound {
                        let a = at / inner, first = at % inner
                        let end = Swift.min(inner, first + outputs.upperBound - at)
                        let row = dst + a * inner
                        for k in 0..<n {
                            let plane = src + (a * n + k) * inner
                            for i in first..<end { row[i] += plane[i] }
                        }
                        at += end - first
                    }
                }
            }
        }
        let x = self
        let keptShape = reducedShape(d, keepDim: true)
        return Tensor(uncheckedShape: reducedShape(d, keepDim: keepDim), storage: out).recording("sum", [x]) { g, _ in
            [try Tensor(uncheckedShape: keptShape, storage: g.storage).expand(to: x.shape)]
        }
    }

    public func mean(dim: Int, keepDim: Bool = false) throws -> Tensor {
        let d = try normalizedDim(dim, "mean")
        let n = rank == 0 ? 1 : shape[d]
        guard n > 0 else { throw TensorError("mean: dimension \(dim + 1) is empty") }
        return try sum(dim: dim, keepDim: keepDim) / Float(n)
    }

    /// Variance along `dim` (or of all values), unbiased by default as in PyTorch.
    public func variance(dim: Int? = nil, unbiased: Bool = true, keepDim: Bool = false) throws -> Tensor {
        let n = dim == nil ? count : (rank == 0 ? 1 : shape[try normalizedDim(dim!, "var")])
        let denominator = unbiased ? n - 1 : n
        guard denominator > 0 else { throw TensorError("var: needs at least \(unbiased ? 2 : 1) values along the reduced dimension") }
        if let dim {
            let centered = try self - mean(dim: dim, keepDim: true)
            return try (centered * centered).sum(dim: dim, keepDim: keepDim) / Float(denominator)
        }
        let centered = try self - mean()
        return try (centered * centered).sum() / Float(denominator)
    }

    /// Maximum (or minimum) of all values; the gradient goes to the first position holding it.
    public func max() throws -> Tensor { try extreme(isMax: true) }
    public func min() throws -> Tensor { try extreme(isMax: false) }

    private func extreme(isMax: Bool) throws -> Tensor {
        guard count > 0 else { throw TensorError("\(isMax ? "max" : "min"): the tensor is empty") }
        var best = 0
        for i in 1..<count where isMax ? storage[i] > storage[best] : storage[i] < storage[best] { best = i }
        let x = self
        return Tensor(scalar: storage[best]).recording(isMax ? "max" : "min", [x]) { g, _ in
            let gx = Tensor.zerosUnchecked(x.shape)
            gx.storage[best] = g.storage[0]
            return [gx]
        }
    }

    /// Maximum (or minimum) along `dim` with the 0-based positions where it is reached.
    public func max(dim: Int, keepDim: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        try extreme(dim: dim, keepDim: keepDim, isMax: true)
    }
    public func min(dim: Int, keepDim: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        try extreme(dim: dim, keepDim: keepDim, isMax: false)
    }

    private func extreme(dim: Int, keepDim: Bool, isMax: Bool) throws -> (values: Tensor, indices: Tensor) {
        let op = isMax ? "max" : "min"
        let d = try normalizedDim(dim, op)
        let src = rank == 0 ? try reshaped([1]) : self
        let (outer, n, inner) = splitAround(src.shape, d)
        guard n > 0 else { throw TensorError("\(op): dimension \(dim + 1) is empty") }
        var values = [Float](repeating: 0, count: outer * inner)
        var positions = [Int](repeating: 0, count: outer * inner)
        for a in 0..<outer {
            for i in 0..<inner {
                var best = 0
                var bestValue = src.storage[a * n * inner + i]
                for k in 1..<n {
                    let v = src.storage[(a * n + k) * inner + i]
                    if isMax ? v > bestValue : v < bestValue { best = k; bestValue = v }
                }
                values[a * inner + i] = bestValue
                positions[a * inner + i] = best
            }
        }
        let shapeOut = rank == 0 ? [] : reducedShape(d, keepDim: keepDim)
        let x = self
        let v = Tensor(uncheckedShape: shapeOut, storage: values).recording(op, [x]) { g, _ in
            let gx = Tensor.zerosUnchecked(x.shape)
            for a in 0..<outer {
                for i in 0..<inner {
                    gx.storage[(a * n + positions[a * inner + i]) * inner + i] += g.storage[a * inner + i]
                }
            }
            return [gx]
        }
        return (v, Tensor(uncheckedShape: shapeOut, storage: positions.map(Float.init)))
    }

    /// 0-based position of the maximum along `dim` (of all values when nil).
    public func argmax(dim: Int?, keepDim: Bool = false) throws -> Tensor {
        guard let dim else {
            guard count > 0 else { throw TensorError("argmax: the tensor is empty") }
            var best = 0
            for i in 1..<count where storage[i] > storage[best] { best = i }
            return Tensor(scalar: Float(best))
        }
        return try max(dim: dim, keepDim: keepDim).indices
    }

    /// The Lp norm of each sample (everything but dimension 0): p = 1, 2 or infinity.
    public func normPerSample(p: Float) throws -> Tensor {
        guard rank >= 1 else { throw TensorError("norm: expected a tensor with a batch dimension, got a scalar") }
        let flat = try reshaped([shape[0], count / Swift.max(shape[0], 1)])
        switch p {
        case 1: return try flat.abs().sum(dim: 1)
        case 2: return try rootOfSum((flat * flat).sum(dim: 1), p: 2)
        case .infinity: return try flat.abs().max(dim: 1).values
        default:
            guard p > 0 else { throw TensorError("norm: expected p > 0, got \(p)") }
            return try rootOfSum(flat.abs().pow(Tensor(scalar: p)).sum(dim: 1), p: p)
        }
    }

    /// `s^(1/p)` of non-negative sums, with gradient 0 where a sum is 0, as PyTorch's norms: the
    /// root's derivative is infinite there, and infinity times the sum's zero gradient is NaN.
    private func rootOfSum(_ s: Tensor, p: Float) throws -> Tensor {
        let positive = try s.compare(Tensor(scalar: 0), "gt")
        let safe = try Tensor.select(where: positive, s, Tensor(scalar: 1))
        let root = p == 2 ? safe.sqrt() : try safe.pow(Tensor(scalar: 1 / p))
        return try Tensor.select(where: positive, root, Tensor(scalar: 0))
    }
}
