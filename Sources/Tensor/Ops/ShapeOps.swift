/// Reshaping, reordering, slicing, joining and padding. Dimensions are 0-based here.

extension Tensor {
    /// Same values in a new shape; one dimension may be -1 (inferred).
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        var target = newShape
        let unknown = target.indices.filter { target[$0] == -1 }
        guard unknown.count <= 1, !target.contains(where: { $0 < -1 }) else {
            throw TensorError("reshape: invalid shape \(newShape) (at most one -1, no other negative sizes)")
        }
        if let u = unknown.first {
            // 0 when the known sizes pass the memory budget (or overflow): then they cannot fit.
            let known = (try? checkedCount(target.enumerated().filter { $0.offset != u }.map(\.element))) ?? 0
            guard known > 0, count % known == 0 else {
                throw TensorError("reshape: cannot reshape size \(describeShape(shape)) into \(newShape)")
            }
            target[u] = count / known
        }
        guard (try? checkedCount(target)) == count else {
            throw TensorError("reshape: cannot reshape size \(describeShape(shape)) (\(count) elements) into \(describeShape(target))")
        }
        let x = self
        return Tensor(uncheckedShape: target, storage: storage).recording("reshape", [x]) { g, _ in
            [Tensor(uncheckedShape: x.shape, storage: g.storage)]
        }
    }

    /// Everything from `startDim` on folded into one dimension.
    public func flattened(from startDim: Int = 1) throws -> Tensor {
        let d = try normalizedDim(startDim, "flatten")
        if rank == 0 { return try reshaped([1]) }
        return try reshaped(Array(shape[..<d]) + [shape[d...].reduce(1, *)])
    }

    /// Reorders dimensions: result dimension i is input dimension `order[i]`.
    public func permuted(_ order: [Int]) throws -> Tensor {
        guard order.count == rank, Set(order) == Set(0..<rank) else {
            throw TensorError("permute: expected a permutation of \(rank) dimensions, got \(order.map { $0 + 1 })")
        }
        let outShape = order.map { shape[$0] }
        let inStrides = strides
        let gathered = order.map { inStrides[$0] }
        var out = [Float](repeating: 0, count: count)
        storage.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                forEachBroadcast(outShape, gathered, gathered) { o, i, _ in dst[o] = src[i] }
            }
        }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, d) in order.enumerated() { inverse[d] = i }
        let x = self
        return Tensor(uncheckedShape: outShape, storage: out).recording("permute", [x]) { g, _ in
            [try g.permuted(inverse)]
        }
    }

    public func transposed(_ d0: Int, _ d1: Int) throws -> Tensor {
        let a = try normalizedDim(d0, "transpose"), b = try normalizedDim(d1, "transpose")
        var order = Array(0..<rank)
        order.swapAt(a, b)
        return try permuted(order)
    }

    /// Elements `start, start+step, ...` below `end` along `dim` (0-based, end exclusive).
    public func slice(dim: Int, start: Int, end: Int, step: Int = 1) throws -> Tensor {
        let d = try normalizedDim(dim, "slice")
        guard rank > 0 else { throw TensorError("slice: cannot slice a scalar") }
        guard step > 0 else { throw TensorError("slice: step must be positive, got \(step)") }
        let n = shape[d]
        guard start >= 0, end <= n, start <= end else {
            throw TensorError("slice: range \(start + 1)..\(end) out of bounds for dimension \(d + 1) of size \(n)")
        }
        let len = (end - start + step - 1) / step
        let (outer, _, inner) = splitAround(shape, d)
        var outShape = shape
        outShape[d] = len
        let out = storage.withUnsafeBufferPointer { px in
            uninitializedFloats(outer * len * inner) { out in
                guard let x = px.baseAddress else { return }
                for a in 0..<outer {
                    for k in 0..<len {
                        (out + (a * len + k) * inner).update(from: x + (a * n + start + k * step) * inner, count: inner)
                    }
                }
            }
        }
        let x = self
        return Tensor(uncheckedShape: outShape, storage: out).recording("slice", [x]) { g, _ in
            // Rows taken are distinct, so the gradient is placed, not added.
            var gx = [Float](repeating: 0, count: x.count)
            g.storage.withUnsafeBufferPointer { pg in
                gx.withUnsafeMutableBufferPointer { px in
                    guard let src = pg.baseAddress, let dst = px.baseAddress else { return }
                    for a in 0..<outer {
                        for k in 0..<len {
                            (dst + (a * n + start + k * step) * inner).update(from: src + (a * len + k) * inner, count: inner)
                        }
                    }
                }
            }
            return [Tensor(uncheckedShape: x.shape, storage: gx)]
        }
    }

    /// The sub-tensor at `index` along `dim`, with that dimension removed.
    public func select(dim: Int, index: Int) throws -> Tensor {
        let d = try normalizedDim(dim, "select")
        guard rank > 0 else { throw TensorError("select: cannot index a scalar") }
        guard index >= 0, index < shape[d] else {
            throw TensorError("select: index \(index + 1) out of range for dimension \(d + 1) of size \(shape[d])")
        }
        var s = shape
        s.remove(at: d)
        return try slice(dim: d, start: index, end: index + 1).reshaped(s)
    }

    /// Gathers positions `indices` (0-based values of a 1-D tensor) along `dim`.
    public func indexSelect(dim: Int, indices: Tensor) throws -> Tensor {
        let d = try normalizedDim(dim, "index")
        guard rank > 0 else { throw TensorError("index: cannot index a scalar") }
        guard indices.rank == 1 else {
            throw TensorError("index: expected a 1-D tensor of indices, got size \(describeShape(indices.shape))")
        }
        let n = shape[d]
        var positions: [Int] = []
        for v in indices.storage {
            guard v.isFinite, v == v.rounded(), v >= 0, Int(v) < n else {
                throw TensorError("index: index \(v) out of range for dimension \(d + 1) of size \(n) (indices are 0-based positions)")
            }
            positions.append(Int(v))
        }
        let (outer, _, inner) = splitAround(shape, d)
        var outShape = shape
        outShape[d] = positions.count
        var out = [Float](repeating: 0, count: outer * positions.count * inner)
        let values = storage  // once: a class's property read per element checks exclusive access each time
        for a in 0..<outer {
            for (k, p) in positions.enumerated() {
                let src = (a * n + p) * inner, dst = (a * positions.count + k) * inner
                for i in 0..<inner { out[dst + i] = values[src + i] }
            }
        }
        let x = self
        return Tensor(uncheckedShape: outShape, storage: out).recording("index", [x]) { g, _ in
            var gx = [Float](repeating: 0, count: x.count)
            let gv = g.storage
            for a in 0..<outer {
                for (k, p) in positions.enumerated() {
                    let dst = (a * n + p) * inner, src = (a * positions.count + k) * inner
                    for i in 0..<inner { gx[dst + i] += gv[src + i] }
                }
            }
            return [Tensor(uncheckedShape: x.shape, storage: gx)]
        }
    }

    /// The values in reverse order along `dim` (a horizontal flip of NCHW images is dim 3).
    public func flipped(dim: Int) throws -> Tensor {
        guard rank > 0 else { throw TensorError("flip: cannot flip a scalar") }
        let d = try normalizedDim(dim, "flip")
        let (outer, n, inner) = splitAround(shape, d)
        func reversed(_ values: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: values.count)
            for a in 0..<outer {
                for k in 0..<n {
                    let src = (a * n + k) * inner, dst = (a * n + n - 1 - k) * inner
                    for i in 0..<inner { out[dst + i] = values[src + i] }
                }
            }
            return out
        }
        let x = self
        return Tensor(uncheckedShape: shape, storage: reversed(storage)).recording("flip", [x]) { g, _ in
            [Tensor(uncheckedShape: x.shape, storage: reversed(g.storage))]
        }
    }

    /// Joins tensors along an existing dimension; all other sizes must agree.
    public static func cat(_ tensors: [Tensor], dim: Int) throws -> Tensor {
        guard let first = tensors.first else { throw TensorError("cat: expected at least one tensor") }
        guard first.rank > 0 else { throw TensorError("cat: cannot join scalars (use stack)") }
        let d = try first.normalizedDim(dim, "cat")
        for (i, t) in tensors.enumerated() {
            var a = t.shape, b = first.shape
            guard a.count == b.count else {
                throw TensorError("cat: tensor \(i + 1) has rank \(t.rank), expected \(first.rank)")
            }
            a[d] = 0; b[d] = 0
            guard a == b else {
                throw TensorError("cat: tensor \(i + 1) has size \(describeShape(t.shape)), expected \(describeShape(first.shape)) except along dimension \(d + 1)")
            }
        }
        let (outer, _, inner) = splitAround(first.shape, d)
        let lengths = tensors.map { $0.shape[d] }
        let total = lengths.reduce(0, +)
        var outShape = first.shape
        outShape[d] = total
        var out = [Float](repeating: 0, count: outer * total * inner)
        out.withUnsafeMutableBufferPointer { po in
            guard let dst = po.baseAddress else { return }
            var offset = 0
            for (t, len) in zip(tensors, lengths) {
                t.storage.withUnsafeBufferPointer { pt in
                    guard let src = pt.baseAddress else { return }
                    for a in 0..<outer {
                        (dst + (a * total + offset) * inner).update(from: src + a * len * inner, count: len * inner)
                    }
                }
                offset += len
            }
        }
        return Tensor(uncheckedShape: outShape, storage: out).recording("cat", tensors) { g, need in
            var starts = 0
            return try zip(lengths, need).map { len, needed in
                defer { starts += len }
                return needed ? try g.slice(dim: d, start: starts, end: starts + len) : nil
            }
        }
    }

    /// Joins equal-sized tensors along a new dimension.
    public static func stack(_ tensors: [Tensor], dim: Int) throws -> Tensor {
        guard let first = tensors.first else { throw TensorError("stack: expected at least one tensor") }
        let d = try first.normalizedDim(dim, "stack", rank: first.rank + 1)
        for (i, t) in tensors.enumerated() where t.shape != first.shape {
            throw TensorError("stack: tensor \(i + 1) has size \(describeShape(t.shape)), expected \(describeShape(first.shape))")
        }
        var expanded = first.shape
        expanded.insert(1, at: d)
        return try cat(tensors.map { try $0.reshaped(expanded) }, dim: d)
    }

    /// Pads the last dimensions with a constant: `widths` = (before, after) pairs, the first pair
    /// for the last dimension, as in `torch.nn.functional.pad`.
    public func padded(_ widths: [(Int, Int)], value: Float = 0) throws -> Tensor {
        guard widths.count <= rank else {
            throw TensorError("pad: \(widths.count) dimensions to pad but the tensor has rank \(rank)")
        }
        for (b, a) in widths where b < 0 || a < 0 {
            throw TensorError("pad: padding must be >= 0, got (\(b), \(a))")
        }
        var outShape = shape
        var before = [Int](repeating: 0, count: rank)
        for (i, (b, a)) in widths.enumerated() {
            let d = rank - 1 - i
            let (padding, o1) = b.addingReportingOverflow(a)
            let (size, o2) = outShape[d].addingReportingOverflow(padding)
            guard !o1, !o2 else {
                throw TensorError("pad: padding (\(b), \(a)) of dimension \(d + 1) is too large")
            }
            outShape[d] = size
            before[d] = b
        }
        let out = try Tensor.full(outShape, value)
        let outStrides = stridesOf(outShape)
        let offset = zip(before, outStrides).map(*).reduce(0, +)
        // Every input element lands at the same offset in the output's index space.
        let x = self
        let zero = [Int](repeating: 0, count: rank)
        storage.withUnsafeBufferPointer { src in
            out.storage.withUnsafeMutableBufferPointer { dst in
                forEachBroadcast(x.shape, outStrides, zero) { i, o, _ in dst[offset + o] = src[i] }
            }
        }
        return out.recording("pad", [x]) { g, _ in
            var gx = [Float](repeating: 0, count: x.count)
            forEachBroadcast(x.shape, outStrides, zero) { i, o, _ in gx[i] = g.storage[offset + o] }
            return [Tensor(uncheckedShape: x.shape, storage: gx)]
        }
    }
}
