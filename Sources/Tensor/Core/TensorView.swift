/// Views: tensors that share their values with a base tensor, as Torch7's and PyTorch's
/// `narrow`, `select`, `transpose` and `t[{...}]` do, so an in-place change through either is
/// seen by the other.
///
/// Kernels read `storage`, one contiguous array per tensor, and stay as they are: a view keeps
/// its own contiguous copy of its values, and a link to the base (which is never itself a view)
/// with the view's offset and strides into the base's values. Writes to a view (`assign`,
/// `withMutableValues`) are copied into the base at once; a view's copy is brought up to date
/// from the base before the bridge hands it to a kernel (`synchronized()`), when the base has
/// changed since (its `version`).
///
/// For autograd a view is a recorded strided gather from the tensor it was taken from, whose
/// gradient scatters back into that tensor's shape. Every in-place write bumps the base's
/// version; a recorded operation whose inputs or result changed version since it ran refuses to
/// differentiate, as PyTorch does.

/// Where a view's values sit in its base's storage.
final class ViewLink {
    let base: Tensor
    let offset: Int
    let strides: [Int]
    /// The base's version the view's own copy reflects.
    var syncedVersion: Int

    init(base: Tensor, offset: Int, strides: [Int]) {
        self.base = base
        self.offset = offset
        self.strides = strides
        syncedVersion = base.ownVersion
    }
}

/// One dimension of a view taken by `Tensor.view(_:)`.
public enum ViewIndex {
    /// One position: the dimension is removed (`select`).
    case at(Int)
    /// Positions `start, start + step, ...` below `end`, 0-based; the dimension stays (`narrow`).
    case range(start: Int, end: Int, step: Int)
}

extension Tensor {
    /// Whether this tensor shares its values with a base.
    public var isView: Bool { viewLink != nil }

    /// Where a view sits: in `self`'s own row-major values (for its values and its gradient)
    /// and in the storage of the base (itself unless a view) that holds them (for writes).
    private struct Placement {
        var shape: [Int] = []
        var offset = 0, baseOffset: Int
        var strides: [Int] = [], baseStrides: [Int] = []
    }

    private var baseLayout: (base: Tensor, offset: Int, strides: [Int]) {
        if let link = viewLink { return (link.base, link.offset, link.strides) }
        return (self, 0, strides)
    }

    /// A view of the dimensions given by `indices` (one per leading dimension; the others are
    /// kept whole).
    public func view(_ indices: [ViewIndex]) throws -> Tensor {
        guard indices.count <= rank else {
            throw TensorError("view: \(indices.count) indices for a tensor of rank \(rank)")
        }
        let own = strides
        let (base, baseOffset, baseStrides) = baseLayout
        var p = Placement(baseOffset: baseOffset)
        for d in 0..<rank {
            let index = d < indices.count ? indices[d] : .range(start: 0, end: shape[d], step: 1)
            switch index {
            case .at(let i):
                guard i >= 0, i < shape[d] else {
                    throw TensorError("view: position \(i) out of range for dimension \(d + 1) of size \(shape[d])")
                }
                p.offset += i * own[d]
                p.baseOffset += i * baseStrides[d]
            case .range(let start, let end, let step):
                guard step > 0, start >= 0, end <= shape[d], start <= end else {
                    throw TensorError("view: range \(start)..<\(end) (step \(step)) does not fit dimension \(d + 1) of size \(shape[d])")
                }
                p.offset += start * own[d]
                p.baseOffset += start * baseStrides[d]
                p.shape.append((end - start + step - 1) / step)
                p.strides.append(own[d] * step)
                p.baseStrides.append(baseStrides[d] * step)
            }
        }
        return makeView(p, base: base)
    }

    /// A view with dimensions `a` and `b` swapped.
    public func transposedView(_ d0: Int, _ d1: Int) throws -> Tensor {
        let a = try normalizedDim(d0, "transpose"), b = try normalizedDim(d1, "transpose")
        var order = Array(0..<rank)
        if a != b { order.swapAt(a, b) }
        return try permutedView(order)
    }

    /// A view with the dimensions in `order` (a permutation of 0..<rank).
    public func permutedView(_ order: [Int]) throws -> Tensor {
        guard order.count == rank, Set(order) == Set(0..<rank) else {
            throw TensorError("permute: expected a permutation of \(rank) dimensions, got \(order.map { $0 + 1 })")
        }
        let own = strides
        let (base, baseOffset, baseStrides) = baseLayout
        let p = Placement(shape: order.map { shape[$0] }, baseOffset: baseOffset,
                          strides: order.map { own[$0] }, baseStrides: order.map { baseStrides[$0] })
        return makeView(p, base: base)
    }

    /// The view: its values gathered from `self`, recorded as a gather whose gradient scatters
    /// into `self`'s shape, and linked to `base` for writes.
    private func makeView(_ p: Placement, base: Tensor) -> Tensor {
        let view = Tensor(uncheckedShape: p.shape, storage: gatherStrided(storage, shape: p.shape, offset: p.offset, strides: p.strides))
        let sourceShape = shape
        view.recording("view", [self]) { g, _ in
            var grad = [Float](repeating: 0, count: sourceShape.reduce(1, *))
            scatterStrided(g.storage, into: &grad, shape: p.shape, offset: p.offset, strides: p.strides, accumulate: true)
            return [Tensor(uncheckedShape: sourceShape, storage: grad)]
        }
        view.viewLink = ViewLink(base: base, offset: p.baseOffset, strides: p.baseStrides)
        view.origin?.restampVersions(result: view)
        return view
    }

    /// A view brought up to date with its base (a no-op for other tensors and unchanged bases).
    @discardableResult
    public func synchronized() -> Tensor {
        guard let link = viewLink, link.syncedVersion != link.base.ownVersion else { return self }
        storage = gatherStrided(link.base.storage, shape: shape, offset: link.offset, strides: link.strides)
        link.syncedVersion = link.base.ownVersion
        return self
    }

    /// After an in-place write: a view copies its values into its base; the version moves on.
    func didWriteInPlace() {
        guard let link = viewLink else {
            ownVersion &+= 1
            return
        }
        let base = link.base
        scatterStrided(storage, into: &base.storage, shape: shape, offset: link.offset, strides: link.strides, accumulate: false)
        base.ownVersion &+= 1
        link.syncedVersion = base.ownVersion
    }
}

/// The values at `offset + Σ index[d]·strides[d]` over `shape`, row-major.
func gatherStrided(_ source: [Float], shape: [Int], offset: Int, strides: [Int]) -> [Float] {
    let count = shape.reduce(1, *)
    return source.withUnsafeBufferPointer { src in
        uninitializedFloats(count) { out in
            var k = 0
            forEachStridedRow(shape: shape, offset: offset, strides: strides) { start, length, step in
                for j in 0..<length { out[k + j] = src[start + j * step] }
                k += length
            }
        }
    }
}

/// Writes (or adds, when `accumulate`) row-major `values` at the strided positions of `target`.
func scatterStrided(_ values: [Float], into target: inout [Float], shape: [Int], offset: Int, strides: [Int], accumulate: Bool) {
    values.withUnsafeBufferPointer { src in
        target.withUnsafeMutableBufferPointer { dst in
            var k = 0
            forEachStridedRow(shape: shape, offset: offset, strides: strides) { start, length, step in
                if accumulate {
                    for j in 0..<length { dst[start + j * step] += src[k + j] }
                } else {
                    for j in 0..<length { dst[start + j * step] = src[k + j] }
                }
                k += length
            }
        }
    }
}

/// Calls `body(start, length, step)` for each innermost row of a strided layout, in row-major
/// order (once with length 1 for a scalar; never for an empty shape).
private func forEachStridedRow(shape: [Int], offset: Int, strides: [Int], _ body: (Int, Int, Int) -> Void) {
    if shape.contains(0) { return }
    guard let last = shape.last else {
        body(offset, 1, 1)
        return
    }
    let outer = shape.dropLast().reduce(1, *)
    var index = [Int](repeating: 0, count: shape.count - 1)
    var start = offset
    for _ in 0..<outer {
        body(start, last, strides[shape.count - 1])
        // Next outer index, odometer style.
        var d = shape.count - 2
        while d >= 0 {
            index[d] += 1
            start += strides[d]
            if index[d] < shape[d] { break }
            start -= strides[d] * shape[d]
            index[d] = 0
            d -= 1
        }
    }
}
