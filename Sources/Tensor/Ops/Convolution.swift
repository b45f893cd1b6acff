import Dispatch

/// 2-D convolution (cross-correlation, as PyTorch) by im2col + sgemm.
///
/// Samples are processed in chunks whose unfolded columns sit side by side, so one GEMM covers
/// several samples when images are small (the small CNN at 28x28) and one sample when they are
/// large (ResNet at 56x56). Unfolding and folding back run on all cores; the GEMM threads itself.

public struct Conv2dOptions: Equatable {
    public var stride: (Int, Int)
    public var padding: (Int, Int)
    public var dilation: (Int, Int)
    public var groups: Int
    public init(stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1) {
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }
    public static func == (a: Conv2dOptions, b: Conv2dOptions) -> Bool {
        a.stride == b.stride && a.padding == b.padding && a.dilation == b.dilation && a.groups == b.groups
    }
}

/// The sizes of one convolution, checked once and shared by the forward and backward kernels.
struct ConvGeometry {
    let n, c, h, w: Int          // input
    let o, kh, kw: Int           // weight
    let oh, ow: Int              // output
    let sh, sw, ph, pw, dh, dw: Int
    let groups: Int
    var cg: Int { c / groups }
    var og: Int { o / groups }
    var k: Int { cg * kh * kw }  // rows of the unfolded matrix per group
    var p: Int { oh * ow }       // columns per sample

    init(input: [Int], weight: [Int], options: Conv2dOptions, op: String) throws {
        guard input.count == 4 else {
            throw TensorError("\(op): expected input of size (N, C, H, W), got \(describeShape(input))")
        }
        guard weight.count == 4 else {
            throw TensorError("\(op): expected weight of size (out, in/groups, kH, kW), got \(describeShape(weight))")
        }
        (n, c, h, w) = (input[0], input[1], input[2], input[3])
        (o, kh, kw) = (weight[0], weight[2], weight[3])
        (sh, sw) = options.stride
        (ph, pw) = options.padding
        (dh, dw) = options.dilation
        groups = options.groups
        guard sh > 0, sw > 0, dh > 0, dw > 0, ph >= 0, pw >= 0 else {
            throw TensorError("\(op): stride and dilation must be positive and padding >= 0")
        }
        guard groups > 0, c % groups == 0, o % groups == 0 else {
            throw TensorError("\(op): groups (\(groups)) must divide input channels (\(c)) and output channels (\(o))")
        }
        guard weight[1] == c / groups else {
            throw TensorError("\(op): weight of size \(describeShape(weight)) expects \(weight[1] * groups) input channels, got \(c)")
        }
        let effH = dh * (kh - 1) + 1, effW = dw * (kw - 1) + 1
        guard h + 2 * ph >= effH, w + 2 * pw >= effW, kh > 0, kw > 0 else {
            throw TensorError("\(op): kernel \(kh)x\(kw) (dilated \(effH)x\(effW)) is larger than the padded input \(h + 2 * ph)x\(w + 2 * pw)")
        }
        oh = (h + 2 * ph - effH) / sh + 1
        ow = (w + 2 * pw - effW) / sw + 1
    }

    /// Samples per chunk: enough columns to keep the GEMM large, few enough to bound memory.
    var chunk: Int {
        let wanted = Swift.max(1, (4096 + p - 1) / Swift.max(p, 1))
        let memoryCap = Swift.max(1, (8 << 20) / Swift.max(k * groups * p, 1))
        return Swift.max(1, Swift.min(n, wanted, memoryCap))
    }

    /// Unfolds sample `sample` of `x` into columns `[col0, col0 + p)` of `col`
    /// (rows: channel, kernel row, kernel column over all groups; row length `ld`).
    func unfold(_ x: UnsafePointer<Float>, sample: Int, into col: UnsafeMutablePointer<Float>, col0: Int, ld: Int) {
        let image = x + sample * c * h * w
        for ci in 0..<c {
            let plane = image + ci * h * w
            for ki in 0..<kh {
                for kj in 0..<kw {
                    let row = col + ((ci * kh + ki) * kw + kj) * ld + col0
                    for y in 0..<oh {
                        let iy = y * sh - ph + ki * dh
                        let dst = row + y * ow
                        if iy < 0 || iy >= h {
                            dst.update(repeating: 0, count: ow)
                            continue
                        }
                        let src = plane + iy * w
                        let x0 = kj * dw - pw
                        if sw == 1 {
                            // Contiguous run with zero edges.
                            let lo = Swift.max(0, -x0), hi = Swift.min(ow, w - x0)
                            if lo >= hi { dst.update(repeating: 0, count: ow); continue }
                            if lo > 0 { dst.update(repeating: 0, count: lo) }
                            (dst + lo).update(from: src + x0 + lo, count: hi - lo)
                            if hi < ow { (dst + hi).update(repeating: 0, count: ow - hi) }
                        } else {
                            for xo in 0..<ow {
                                let ix = x0 + xo * sw
                                dst[xo] = ix >= 0 && ix < w ? src[ix] : 0
                            }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of `unfold`: adds columns back into sample `sample` of `dx`.
    func fold(_ col: UnsafePointer<Float>, col0: Int, ld: Int, into dx: UnsafeMutablePointer<Float>, sample: Int) {
        let image = dx + sample * c * h * w
        for ci in 0..<c {
            let plane = image + ci * h * w
            for ki in 0..<kh {
                for kj in 0..<kw {
                    let row = col + ((ci * kh + ki) * kw + kj) * ld + col0
                    for y in 0..<oh {
                        let iy = y * sh - ph + ki * dh
                        if iy < 0 || iy >= h { continue }
                        let src = row + y * ow
                        let dst = plane + iy * w
                        let x0 = kj * dw - pw
                        if sw == 1 {
                            let lo = Swift.max(0, -x0), hi = Swift.min(ow, w - x0)
                            var xo = lo
                            while xo < hi { dst[x0 + xo] += src[xo]; xo += 1 }
                        } else {
                            for xo in 0..<ow {
                                let ix = x0 + xo * sw
                                if ix >= 0 && ix < w { dst[ix] += src[xo] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// A 1x1 kernel with unit stride and no padding needs no unfolding: the input is the matrix.
    var isPointwise: Bool { kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 }
}

/// Runs `body(i)` for `0..<count` across the cores.
@inline(__always)
func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    if count <= 1 { for i in 0..<count { body(i) }; return }
    DispatchQueue.concurrentPerform(iterations: count, execute: body)
}

/// Unfolded columns for samples `[s0, s0 + nb)`, side by side (row length nb * p).
private func unfoldChunk(_ g: ConvGeometry, _ x: UnsafePointer<Float>, _ s0: Int, _ nb: Int, _ col: UnsafeMutablePointer<Float>) {
    parallelFor(nb) { j in g.unfold(x, sample: s0 + j, into: col, col0: j * g.p, ld: nb * g.p) }
}

extension Tensor {
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, options: Conv2dOptions = Conv2dOptions()) throws -> Tensor {
        let g = try ConvGeometry(input: x.shape, weight: weight.shape, options: options, op: "conv2d")
        if let bias, bias.shape != [g.o] {
            throw TensorError("conv2d: expected bias of size \(g.o), got \(describeShape(bias.shape))")
        }
        let outCount = try checkedCount([g.n, g.o, g.oh, g.ow])
        var out = [Float](repeating: 0, count: outCount)
        let nbMax = g.chunk
        var col = [Float](repeating: 0, count: g.isPointwise && nbMax == 1 ? 0 : g.c * g.kh * g.kw * nbMax * g.p)
        var result = [Float](repeating: 0, count: g.o * nbMax * g.p)
        x.storage.withUnsafeBufferPointer { px in
            weight.storage.withUnsafeBufferPointer { pw in
                col.withUnsafeMutableBufferPointer { pcol in
                    result.withUnsafeMutableBufferPointer { pres in
                        out.withUnsafeMutableBufferPointer { pout in
                            var s0 = 0
                            while s0 < g.n {
                                let nb = Swift.min(nbMax, g.n - s0)
                                let ld = nb * g.p
                                if g.isPointwise && nb == 1 {
                                    // The sample itself is the (C, P) matrix, and the output (O, P).
                                    for gi in 0..<g.groups {
                                        sgemm(m: g.og, n: g.p, k: g.cg, a: pw.baseAddress! + gi * g.og * g.cg, lda: g.cg,
                                              b: px.baseAddress! + (s0 * g.c + gi * g.cg) * g.p, ldb: g.p,
                                              c: pout.baseAddress! + (s0 * g.o + gi * g.og) * g.p, ldc: g.p)
                                    }
                                } else {
                                    unfoldChunk(g, px.baseAddress!, s0, nb, pcol.baseAddress!)
                                    let source = UnsafePointer(pcol.baseAddress!)
                                    for gi in 0..<g.groups {
                                        sgemm(m: g.og, n: ld, k: g.k, a: pw.baseAddress! + gi * g.og * g.k, lda: g.k,
                                              b: source + gi * g.k * ld, ldb: ld,
                                              c: pres.baseAddress! + gi * g.og * ld, ldc: ld)
                                    }
                                    // (O, nb * P) back to NCHW.
                                    for j in 0..<nb {
                                        for oi in 0..<g.o {
                                            (pout.baseAddress! + ((s0 + j) * g.o + oi) * g.p)
                                                .update(from: pres.baseAddress! + oi * ld + j * g.p, count: g.p)
                                        }
                                    }
                                }
                                s0 += nb
                            }
                            if let bias {
                                for s in 0..<g.n {
                                    for oi in 0..<g.o {
                                        let b = bias.storage[oi]
                                        let row = pout.baseAddress! + (s * g.o + oi) * g.p
                                        for i in 0..<g.p { row[i] += b }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return Tensor(uncheckedShape: [g.n, g.o, g.oh, g.ow], storage: out).recording("conv2d", inputs) { grad, need in
            let (dx, dw) = try conv2dBackward(g, x: x, weight: weight, gradOutput: grad, needInput: need[0], needWeight: need[1])
            var grads: [Tensor?] = [dx, dw]
            if bias != nil { grads.append(need[2] ? try grad.sum(dim: 3).sum(dim: 2).sum(dim: 0) : nil) }
            return grads
        }
    }
}

/// Gradients of a convolution with respect to its input and its weight, each only if needed.
private func conv2dBackward(_ g: ConvGeometry, x: Tensor, weight: Tensor, gradOutput: Tensor,
                            needInput: Bool, needWeight: Bool) throws -> (Tensor?, Tensor?) {
    var dx = needInput ? [Float](repeating: 0, count: x.count) : []
    var dw = needWeight ? [Float](repeating: 0, count: weight.count) : []
    let nbMax = g.chunk
    var gy = [Float](repeating: 0, count: g.o * nbMax * g.p)
    var col = [Float](repeating: 0, count: g.c * g.kh * g.kw * nbMax * g.p)
    x.storage.withUnsafeBufferPointer { px in
        weight.storage.withUnsafeBufferPointer { pw in
            gradOutput.storage.withUnsafeBufferPointer { pg in
                gy.withUnsafeMutableBufferPointer { pgy in
                    col.withUnsafeMutableBufferPointer { pcol in
                        dx.withUnsafeMutableBufferPointer { pdx in
                            dw.withUnsafeMutableBufferPointer { pdw in
                                var s0 = 0
                                while s0 < g.n {
                                    let nb = Swift.min(nbMax, g.n - s0)
                                    let ld = nb * g.p
                                    // The output gradient as (O, nb * P).
                                    for j in 0..<nb {
                                        for oi in 0..<g.o {
                                            (pgy.baseAddress! + oi * ld + j * g.p)
                                                .update(from: pg.baseAddress! + ((s0 + j) * g.o + oi) * g.p, count: g.p)
                                        }
                                    }
                                    if needWeight {
                                        unfoldChunk(g, px.baseAddress!, s0, nb, pcol.baseAddress!)
                                        for gi in 0..<g.groups {
                                            sgemm(transB: true, m: g.og, n: g.k, k: ld,
                                                  a: pgy.baseAddress! + gi * g.og * ld, lda: ld,
                                                  b: pcol.baseAddress! + gi * g.k * ld, ldb: ld,
                                                  beta: 1, c: pdw.baseAddress! + gi * g.og * g.k, ldc: g.k)
                                        }
                                    }
                                    if needInput {
                                        for gi in 0..<g.groups {
                                            sgemm(transA: true, m: g.k, n: ld, k: g.og,
                                                  a: pw.baseAddress! + gi * g.og * g.k, lda: g.k,
                                                  b: pgy.baseAddress! + gi * g.og * ld, ldb: ld,
                                                  c: pcol.baseAddress! + gi * g.k * ld, ldc: ld)
                                        }
                                        let colBase = UnsafePointer(pcol.baseAddress!)
                                        let dxBase = pdx.baseAddress!
                                        parallelFor(nb) { j in g.fold(colBase, col0: j * g.p, ld: ld, into: dxBase, sample: s0 + j) }
                                    }
                                    s0 += nb
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    return (needInput ? Tensor(uncheckedShape: x.shape, storage: dx) : nil,
            needWeight ? Tensor(uncheckedShape: weight.shape, storage: dw) : nil)
}
