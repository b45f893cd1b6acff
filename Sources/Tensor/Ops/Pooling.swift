/// Max, average and adaptive average pooling over (N, C, H, W).

public struct Pool2dOptions {
    public var kernel: (Int, Int)
    public var stride: (Int, Int)
    public var padding: (Int, Int)
    public var ceilMode: Bool
    /// Average pooling: whether padded zeros count in the divisor (PyTorch's default: yes).
    public var countIncludePad: Bool
    public init(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0), ceilMode: Bool = false, countIncludePad: Bool = true) {
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
    }

    /// Output size along one axis, as PyTorch computes it.
    func outputSize(_ size: Int, _ k: Int, _ s: Int, _ p: Int) -> Int {
        // `check` made k - 2p <= size; written so that huge options cannot overflow.
        let span = size - (k - 2 * p)
        var out = span / s + (ceilMode && span % s != 0 ? 1 : 0) + 1
        // A window may not start in the right padding.
        let (start, overflow) = (out - 1).multipliedReportingOverflow(by: s)
        if ceilMode && (overflow || start >= size + p) { out -= 1 }
        return out
    }

    func check(_ shape: [Int], op: String) throws -> (oh: Int, ow: Int) {
        guard shape.count == 4 else { throw TensorError("\(op): expected input of size (N, C, H, W), got \(describeShape(shape))") }
        // Every window then holds at least one value (max pooling starts from the first).
        guard shape[2] > 0, shape[3] > 0 else { throw TensorError("\(op): cannot pool an empty image (\(shape[2])x\(shape[3]))") }
        let (kh, kw) = kernel, (sh, sw) = stride, (ph, pw) = padding
        guard kh > 0, kw > 0, sh > 0, sw > 0, ph >= 0, pw >= 0 else {
            throw TensorError("\(op): kernel and stride must be positive and padding >= 0")
        }
        // Compared as `p <= k / 2` and `k - 2p <= size`: no sum or product a huge option could overflow.
        guard ph <= kh / 2, pw <= kw / 2 else {
            throw TensorError("\(op): padding must be at most half the kernel size")
        }
        guard kh - 2 * ph <= shape[2], kw - 2 * pw <= shape[3] else {
            throw TensorError("\(op): kernel \(kh)x\(kw) is larger than the padded input \(shape[2] + 2 * ph)x\(shape[3] + 2 * pw)")
        }
        return (outputSize(shape[2], kh, sh, ph), outputSize(shape[3], kw, sw, pw))
    }
}

/// Max pooling's step: `v` at `index` replaces the best so far if larger or NaN, unless the best
/// is already NaN.
@inline(__always)
private func keepMax(_ v: Float, _ index: Int, _ best: inout Float, _ bestAt: inout Int) {
    if !best.isNaN && (v > best || v.isNaN) {
        best = v
        bestAt = index
    }
}

/// The largest of the `kh`x`kw` window whose first value is at `i`, in a plane `w` wide, and its
/// index (the first on ties), or nil if the window may hold a NaN (a NaN sum, also from +inf and
/// -inf), which the exact loop handles. Selects instead of branches, which random data
/// mispredicts; called with constant sizes for the common windows, so the loops unroll.
@inline(__always)
private func maxWindowWithoutNaN(_ plane: UnsafePointer<Float>, _ i: Int, _ w: Int, _ kh: Int, _ kw: Int) -> (Float, Int)? {
    var best = plane[i], at = i, sum: Float = 0
    for ky in 0..<kh {
        let row = i &+ ky &* w
        for kx in 0..<kw {
            let v = plane[row &+ kx]
            sum += v
            if v > best { best = v; at = row &+ kx }
        }
    }
    guard !sum.isNaN else { return nil }
    return (best, at)
}

/// Eight neighbouring windows of stride 2 across a row at once: the `kh`×`kw` windows
/// starting at row `y0`, columns `x0`, `x0 + 2`, ..., `x0 + 14`, all inside the plane
/// (x0 + 15 + kw <= w: the loads read up to one value past the last window).
/// Each window's values in row order, the first largest winning, as `maxWindowWithoutNaN`; nil
/// when any of them is NaN (the exact loop then decides). Columns 2l + kx of 16 loaded values
/// are their even or odd halves.
@inline(__always)
private func maxWindowsStride2(_ plane: UnsafePointer<Float>, _ y0: Int, _ x0: Int, _ w: Int, _ kh: Int, _ kw: Int)
    -> (SIMD8<Float>, SIMD8<Int32>)? {
    let lanes = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14)
    var best = SIMD8<Float>(repeating: 0), at = SIMD8<Int32>(repeating: 0)
    var nan = SIMDMask<SIMD8<Int32>>(repeating: false)
    for ky in 0..<kh {
        let start = (y0 + ky) * w + x0
        let row = UnsafeRawPointer(plane + start)
        let near = row.loadUnaligned(as: SIMD16<Float>.self)
        let far = kw > 2 ? row.loadUnaligned(fromByteOffset: 2 * MemoryLayout<Float>.size, as: SIMD16<Float>.self) : near
        for kx in 0..<kw {
            let v = kx == 0 ? near.evenHalf : kx == 1 ? near.oddHalf : far.evenHalf
            let index = lanes &+ Int32(truncatingIfNeeded: start + kx)
            nan .|= v .!= v
            if ky == 0 && kx == 0 {
                (best, at) = (v, index)
            } else {
                let larger = v .> best
                best.replace(with: v, where: larger)
                at.replace(with: index, where: larger)
            }
        }
    }
    return any(nan) ? nil : (best, at)
}

extension Tensor {
    public static func maxPool2d(_ x: Tensor, _ o: Pool2dOptions) throws -> Tensor {
        let (oh, ow) = try o.check(x.shape, op: "max_pool2d")
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let planes = n * c
        let (kh, kw) = o.kernel, (sh, sw) = o.stride, (ph, pw) = o.padding
        // Not filled first: the loop writes every entry.
        var argmax = [Int32](unsafeUninitializedCapacity: planes * oh * ow) { _, initialized in initialized = planes * oh * ow }
        let out = x.storage.withUnsafeBufferPointer { px in
            argmax.withUnsafeMutableBufferPointer { pa in
                uninitializedFloats(planes * oh * ow) { dst in
                    guard let src = px.baseAddress, let arg = pa.baseAddress else { return }
                    parallelRanges(planes, cost: h * w) { r in
                        for pl in r {
                            let plane = src + pl * h * w
                            var at = pl * oh * ow
                            for y in 0..<oh {
                                let y0 = y * sh - ph
                                let ys = Swift.max(0, y0), ye = Swift.min(h, y0 + kh)
                                let rowInside = y0 >= 0 && y0 + kh <= h
                                // Stride 2 (ResNet's first pooling, the small CNNs'): blocks of
                                // eight windows inside the plane starting from `vectorFirst` to
                                // `vectorLast`, the others one at a time.
                                let vectorized = rowInside && sw == 2 && (kw == 2 || kw == 3) && w + pw >= 15 + kw
                                let (vectorFirst, vectorLast) = vectorized ? ((pw + 1) / 2, (w + pw - 15 - kw) / 2) : (1, 0)
                                var xo = 0
                                while xo < ow {
                                    if xo >= vectorFirst, xo <= vectorLast, xo + 8 <= ow,
                                       let (best, bestAt) = maxWindowsStride2(plane, y0, xo * 2 - pw, w, kh, kw) {
                                        UnsafeMutableRawPointer(dst + at).storeBytes(of: best, as: SIMD8<Float>.self)
                                        UnsafeMutableRawPointer(arg + at).storeBytes(of: bestAt, as: SIMD8<Int32>.self)
                                        at += 8
                                        xo += 8
                                        continue
                                    }
                                    let x0 = xo * sw - pw
                                    let xs = Swift.max(0, x0), xe = Swift.min(w, x0 + kw)
                                    // The first value of the window, then each later one in
                                    // row order; NaN propagates (the first one wins), as in PyTorch.
                                    var best = plane[ys * w + xs], bestAt = ys * w + xs
                                    let inside = rowInside && x0 >= 0 && x0 + kw <= w
                                    if inside, let window = kh == 2 && kw == 2 ? maxWindowWithoutNaN(plane, bestAt, w, 2, 2)
                                        : kh == 3 && kw == 3 ? maxWindowWithoutNaN(plane, bestAt, w, 3, 3)
                                        : maxWindowWithoutNaN(plane, bestAt, w, kh, kw) {
                                        (best, bestAt) = window
                                    } else {
                                        for ky in ys..<ye {
                                            for kx in xs..<xe where ky != ys || kx != xs {
                                                keepMax(plane[ky * w + kx], ky * w + kx, &best, &bestAt)
                                            }
                                        }
                                    }
                                    dst[at] = best
                                    arg[at] = Int32(truncatingIfNeeded: bestAt)
                                    at += 1
                                    xo += 1
                                }
                            }
                        }
                    }
                }
            }
        }
        let winners = argmax
        return Tensor(uncheckedShape: [n, c, oh, ow], storage: out).recording("max_pool2d", [x]) { g, _ in
            let dx = g.storage.withUnsafeBufferPointer { pg in
                winners.withUnsafeBufferPointer { pa in
                    uninitializedFloats(x.count) { dx in
                        guard let gp = pg.baseAddress, let arg = pa.baseAddress else { return }
                        // Planes are independent: each core zeroes and fills its own.
                        parallelRanges(planes, cost: h * w) { r in
                            for pl in r {
                                let plane = dx + pl * h * w
                                plane.update(repeating: 0, count: h * w)
                                for i in (pl * oh * ow)..<((pl + 1) * oh * ow) where arg[i] >= 0 {
                                    plane[Int(arg[i])] += gp[i]
                                }
                            }
                        }
                    }
                }
            }
            return [Tensor(uncheckedShape: x.shape, storage: dx)]
        }
    }

    public static func avgPool2d(_ x: Tensor, _ o: Pool2dOptions) throws -> Tensor {
        let (oh, ow) = try o.check(x.shape, op: "avg_pool2d")
        try checkWindowCounts(x, oh, ow)
        // Windows are products of a row range and a column range, and so are their divisors.
        func axis(_ size: Int, _ out: Int, _ k: Int, _ s: Int, _ p: Int) -> [AxisWindow] {
            (0..<out).map { i in
                let start = i * s - p, end = Swift.min(start + k, size + p)
                let first = Swift.max(0, start), last = Swift.min(size, end)
                return AxisWindow(first: first, end: Swift.max(first, last), divisor: o.countIncludePad ? end - start : last - first)
            }
        }
        return windowAverage(x, rows: axis(x.shape[2], oh, o.kernel.0, o.stride.0, o.padding.0),
                                 columns: axis(x.shape[3], ow, o.kernel.1, o.stride.1, o.padding.1), op: "avg_pool2d")
    }

    /// Average pooling to a fixed output size, with PyTorch's bin edges.
    public static func adaptiveAvgPool2d(_ x: Tensor, outputSize: (Int, Int)) throws -> Tensor {
        guard x.rank == 4 else { throw TensorError("adaptive_avg_pool2d: expected input of size (N, C, H, W), got \(describeShape(x.shape))") }
        let (oh, ow) = outputSize
        guard oh > 0, ow > 0 else { throw TensorError("adaptive_avg_pool2d: output size must be positive, got \(oh)x\(ow)") }
        try checkWindowCounts(x, oh, ow)
        func axis(_ size: Int, _ out: Int) -> [AxisWindow] {
            (0..<out).map { i in
                let first = i * size / out, end = ((i + 1) * size + out - 1) / out
                return AxisWindow(first: first, end: end, divisor: end - first)
            }
        }
        return windowAverage(x, rows: axis(x.shape[2], oh), columns: axis(x.shape[3], ow), op: "adaptive_avg_pool2d")
    }

    /// The output and the windows of each axis must fit the memory budget before the windows
    /// are listed.
    private static func checkWindowCounts(_ x: Tensor, _ oh: Int, _ ow: Int) throws {
        _ = try checkedCount([x.shape[0], x.shape[1], oh, ow])
        for count in [oh, ow] {
            try MemoryBudget.check(count: count, itemBytes: MemoryLayout<AxisWindow>.stride, "pooling windows")
        }
    }

    /// Averages over a window per output position: rows `rows[y]` by columns `columns[x]`,
    /// divided by the product of their divisors (an empty divisor gives 0).
    /// The callers checked the sizes (`checkWindowCounts`).
    private static func windowAverage(_ x: Tensor, rows: [AxisWindow], columns: [AxisWindow], op: String) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (rows.count, columns.count)
        let planes = n * c
        let out = x.storage.withUnsafeBufferPointer { px in
            uninitializedFloats(n * c * oh * ow) { dst in
                guard let src = px.baseAddress else { return }
                // The global average (ResNet's last pooling): one sum per plane.
                if let row = rows.first, let col = columns.first, oh == 1, ow == 1, row.first == 0, row.end == h, col.first == 0, col.end == w, h * w > 0 {
                    let divisor = Float(row.divisor * col.divisor)
                    parallelRanges(planes, cost: h * w) { r in
                        for pl in r { dst[pl] = laneSum(src + pl * h * w, h * w) / divisor }
                    }
                    return
                }
                parallelRanges(planes, cost: h * w) { r in
                    for pl in r {
                        let plane = src + pl * h * w
                        var at = pl * oh * ow
                        for row in rows {
                            for col in columns {
                                var s: Float = 0
                                for ky in row.first..<row.end { for kx in col.first..<col.end { s += plane[ky * w + kx] } }
                                let divisor = row.divisor * col.divisor
                                dst[at] = divisor > 0 ? s / Float(divisor) : 0
                                at += 1
                            }
                        }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: [n, c, oh, ow], storage: out).recording(op, [x]) { g, _ in
            let dx = g.storage.withUnsafeBufferPointer { pg in
                uninitializedFloats(x.count) { dx in
                    guard let gp = pg.baseAddress else { return }
                    parallelRanges(planes, cost: h * w) { r in
                        for pl in r {
                            let plane = dx + pl * h * w
                            plane.update(repeating: 0, count: h * w)
                            var at = pl * oh * ow
                            for row in rows {
                                for col in columns {
                                    let divisor = row.divisor * col.divisor
                                    if divisor > 0 {
                                        let share = gp[at] / Float(divisor)
                                        for ky in row.first..<row.end { for kx in col.first..<col.end { plane[ky * w + kx] += share } }
                                    }
                                    at += 1
                                }
                            }
                        }
                    }
                }
            }
            return [Tensor(uncheckedShape: x.shape, storage: dx)]
        }
    }
}

/// One axis of an averaging window: input indices `first..<end` and this axis' factor of the divisor.
private struct AxisWindow {
    let first, end, divisor: Int
}
