/// 2-D convolution (cross-correlation, as PyTorch) by im2col + sgemm.
///
/// Samples go through in chunks: small images grouped so the GEMMs stay large, large images one
/// at a time. With at least as many chunks as cores, each core takes whole chunks with its own
/// buffers (no synchronization between chunks; weight gradients summed per core, then added).
/// With fewer, the cores share each chunk: a band of output rows of a large image each, written
/// straight into the output; folding the input gradient back then splits by channel, since
/// bands of rows overlap in the input.

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
        guard kh > 0, kw > 0 else { throw TensorError("\(op): kernel size must be positive, got \(kh)x\(kw)") }
        let effH = dh * (kh - 1) + 1, effW = dw * (kw - 1) + 1
        guard h + 2 * ph >= effH, w + 2 * pw >= effW else {
            throw TensorError("\(op): kernel \(kh)x\(kw) (dilated \(effH)x\(effW)) is larger than the padded input \(h + 2 * ph)x\(w + 2 * pw)")
        }
        oh = (h + 2 * ph - effH) / sh + 1
        ow = (w + 2 * pw - effW) / sw + 1
    }

    /// Samples per chunk: one for large images, else enough for GEMMs of about 4096 columns,
    /// within a bound on the unfolded buffer.
    var chunk: Int {
        if p >= 1024 { return 1 }
        let wanted = (4096 + p - 1) / Swift.max(p, 1)
        let memoryCap = (8 << 20) / Swift.max(c * kh * kw * p, 1)
        return Swift.max(1, Swift.min(n, wanted, memoryCap))
    }

    /// The pieces of a chunk of `nb` samples that the cores share: a band of output rows of
    /// the one sample, or a run of whole samples.
    func columnBlocks(_ nb: Int) -> [(samples: Range<Int>, rows: Range<Int>)] {
        if nb == 1 { return splitRange(oh, parts: threadCount).map { (0..<1, $0) } }
        return splitRange(nb, parts: threadCount).map { ($0, 0..<oh) }
    }

    /// Unfolds output rows `rows` of sample `sample` of `x` into `col` (rows: channel, kernel
    /// row, kernel column; row length `ld`), the sample's columns starting at `col0`.
    func unfold(_ x: UnsafePointer<Float>, sample: Int, rows: Range<Int>, into col: UnsafeMutablePointer<Float>, col0: Int, ld: Int) {
        let image = x + sample * c * h * w
        for ci in 0..<c {
            let plane = image + ci * h * w
            for ki in 0..<kh {
                for kj in 0..<kw {
                    let row = col + ((ci * kh + ki) * kw + kj) * ld + col0
                    let x0 = kj * dw - pw
                    // Output columns whose input column is inside the image (unit stride).
                    let lo = Swift.max(0, -x0), hi = Swift.min(ow, w - x0)
                    for y in rows {
                        let iy = y * sh - ph + ki * dh
                        let dst = row + y * ow
                        if iy < 0 || iy >= h {
                            dst.update(repeating: 0, count: ow)
                            continue
                        }
                        let src = plane + iy * w
                        if sw == 1 {
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

    /// The adjoint of `unfold` over all rows: adds the columns of sample `sample` back into
    /// channels `channels` of `dx`.
    func fold(_ col: UnsafePointer<Float>, col0: Int, ld: Int, into dx: UnsafeMutablePointer<Float>, sample: Int, channels: Range<Int>) {
        let image = dx + sample * c * h * w
        for ci in channels {
            let plane = image + ci * h * w
            for ki in 0..<kh {
                for kj in 0..<kw {
                    let row = col + ((ci * kh + ki) * kw + kj) * ld + col0
                    let x0 = kj * dw - pw
                    let lo = Swift.max(0, -x0), hi = Swift.min(ow, w - x0)
                    for y in 0..<oh {
                        let iy = y * sh - ph + ki * dh
                        if iy < 0 || iy >= h { continue }
                        let src = row + y * ow
                        let dst = plane + iy * w
                        if sw == 1 {
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

    /// Folds a chunk back into `dx`: over `parts` cores, split by sample and channel.
    func foldChunk(_ col: UnsafePointer<Float>, _ s0: Int, _ nb: Int, into dx: UnsafeMutablePointer<Float>, parts: Int) {
        if parts == 1 {
            for j in 0..<nb { fold(col, col0: j * p, ld: nb * p, into: dx, sample: s0 + j, channels: 0..<c) }
            return
        }
        let channelBlocks = splitRange(c, parts: (parts * 2 + nb - 1) / nb)
        parallelFor(nb * channelBlocks.count) { i in
            let j = i / channelBlocks.count
            fold(col, col0: j * p, ld: nb * p, into: dx, sample: s0 + j, channels: channelBlocks[i % channelBlocks.count])
        }
    }

    /// Unfolds a whole chunk: over `parts` cores, split into column blocks.
    func unfoldChunk(_ x: UnsafePointer<Float>, _ s0: Int, _ nb: Int, into col: UnsafeMutablePointer<Float>, parts: Int) {
        let blocks = parts == 1 ? [(samples: 0..<nb, rows: 0..<oh)] : columnBlocks(nb)
        parallelFor(blocks.count) { i in
            for j in blocks[i].samples { unfold(x, sample: s0 + j, rows: blocks[i].rows, into: col, col0: j * p, ld: nb * p) }
        }
    }

    /// Copies samples `samples` of an NCHW tensor (from sample `s0` on) into the chunk layout
    /// (O, nb * P).
    func gatherChunk(nchw: UnsafePointer<Float>, chunk: UnsafeMutablePointer<Float>, channels: Int,
                     s0: Int, nb: Int, samples: Range<Int>) {
        for j in samples {
            for ch in 0..<channels {
                (chunk + ch * nb * p + j * p).update(from: nchw + ((s0 + j) * channels + ch) * p, count: p)
            }
        }
    }

    /// The inverse of `gatherChunk`: samples `samples` of the chunk layout back to NCHW.
    func scatterChunk(chunk: UnsafePointer<Float>, nchw: UnsafeMutablePointer<Float>, channels: Int,
                      s0: Int, nb: Int, samples: Range<Int>) {
        for j in samples {
            for ch in 0..<channels {
                (nchw + ((s0 + j) * channels + ch) * p).update(from: chunk + ch * nb * p + j * p, count: p)
            }
        }
    }
}

/// Unfolded bytes per GEMM slice: about a core's share of the L2 cache.
var cacheSliceBytes = 512 << 10

extension Range where Bound == Int {
    func shifted(_ by: Int) -> Range<Int> { (lowerBound + by)..<(upperBound + by) }
}

extension ConvGeometry {
    /// First sample of each chunk.
    var chunkStarts: [Int] { Array(stride(from: 0, to: n, by: chunk)) }
    /// Floats of the unfolded buffer and of the staging buffer for one chunk (at least one, so
    /// their base addresses exist).
    var unfoldedCount: Int { Swift.max(1, c * kh * kw * chunk * p) }
    var stagingCount: Int { Swift.max(1, chunk > 1 ? o * chunk * p : 0) }
    /// Whether there are enough chunks for each core to take whole ones with its own buffers,
    /// rather than all cores sharing each chunk (which costs a synchronization per chunk).
    var coresTakeWholeChunks: Bool { chunkStarts.count >= threadCount }

    /// The forward pass of samples `samples` (of the chunk at `s0`, `nb` samples) and output
    /// rows `band` (a band only when the chunk is one sample).
    func forwardBlock(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                      s0: Int, nb: Int, samples: Range<Int>, band: Range<Int>,
                      col: UnsafeMutablePointer<Float>, staging: UnsafeMutablePointer<Float>) {
        let ld = nb * p
        // A band is done in slices small enough that the unfolded columns are still in cache
        // when the GEMM reads them.
        let bytes = band.count * ow * c * kh * kw * 4
        let slices = nb == 1 ? splitRange(band.count, parts: (bytes + cacheSliceBytes - 1) / cacheSliceBytes).map { $0.shifted(band.lowerBound) } : [band]
        for rows in slices {
            for j in samples { unfold(x, sample: s0 + j, rows: rows, into: col, col0: j * p, ld: ld) }
            let first = samples.lowerBound * p + rows.lowerBound * ow
            let width = nb == 1 ? rows.count * ow : samples.count * p
            // One sample: into the output itself; several: into the staging layout (O, nb * P),
            // then to NCHW.
            let (target, ldc) = nb == 1 ? (out + s0 * o * p, p) : (staging, ld)
            for gi in 0..<groups {
                sgemm(m: og, n: width, k: k, a: weight + gi * og * k, lda: k,
                      b: col + gi * k * ld + first, ldb: ld,
                      c: target + gi * og * ldc + first, ldc: ldc)
            }
        }
        if nb > 1 { scatterChunk(chunk: staging, nchw: out, channels: o, s0: s0, nb: nb, samples: samples) }
    }

    /// The backward pass of the chunk at `s0` (`nb` samples) over `parts` cores: adds the weight
    /// gradient into `dw` and writes the input gradient of those samples into `dx` (each when
    /// given). `gy` is the whole output gradient (NCHW).
    func backwardChunk(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, gy all: UnsafePointer<Float>,
                       s0: Int, nb: Int, parts: Int, col: UnsafeMutablePointer<Float>, staging: UnsafeMutablePointer<Float>,
                       dx: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>?) {
        let ld = nb * p
        // The output gradient as (O, nb * P): for one sample, as it is.
        let gy: UnsafePointer<Float>
        if nb == 1 {
            gy = all + s0 * o * p
        } else {
            gy = UnsafePointer(staging)
            let pieces = splitRange(nb, parts: parts)
            parallelFor(pieces.count) { i in
                gatherChunk(nchw: all, chunk: staging, channels: o, s0: s0, nb: nb, samples: pieces[i])
            }
        }
        if let dw {
            unfoldChunk(x, s0, nb, into: col, parts: parts)
            // dW_g += gy_g colᵀ, the cores splitting dW's columns.
            let kBlocks = splitRange(k, parts: parts)
            parallelFor(kBlocks.count) { i in
                let r = kBlocks[i]
                for gi in 0..<groups {
                    sgemm(transB: true, m: og, n: r.count, k: ld, a: gy + gi * og * ld, lda: ld,
                          b: col + (gi * k + r.lowerBound) * ld, ldb: ld,
                          beta: 1, c: dw + gi * og * k + r.lowerBound, ldc: k)
                }
            }
        }
        if let dx {
            // col = Wᵀ gy by column blocks, then fold back by channel.
            let blocks = splitRange(ld, parts: parts)
            parallelFor(blocks.count) { i in
                let r = blocks[i]
                for gi in 0..<groups {
                    sgemm(transA: true, m: k, n: r.count, k: og, a: weight + gi * og * k, lda: k,
                          b: gy + gi * og * ld + r.lowerBound, ldb: ld,
                          c: col + gi * k * ld + r.lowerBound, ldc: ld)
                }
            }
            foldChunk(col, s0, nb, into: dx, parts: parts)
        }
    }
}

extension Tensor {
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, options: Conv2dOptions = Conv2dOptions()) throws -> Tensor {
        let g = try ConvGeometry(input: x.shape, weight: weight.shape, options: options, op: "conv2d")
        if let bias, bias.shape != [g.o] {
            throw TensorError("conv2d: expected bias of size \(g.o), got \(describeShape(bias.shape))")
        }
        let out = try convolutionForward(g, x: x.storage, weight: weight.storage, bias: bias?.storage)
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return Tensor(uncheckedShape: [g.n, g.o, g.oh, g.ow], storage: out).recording("conv2d", inputs) { grad, need in
            var grads: [Tensor?] = [nil, nil]
            if need[0] { grads[0] = Tensor(uncheckedShape: x.shape, storage: try convolutionInputGradient(g, gradOutput: grad.storage, weight: weight.storage)) }
            let needBias = bias != nil && need[2]
            var db: [Float]?
            if need[1] {
                let (dw, biasGrad) = try convolutionWeightGradient(g, x: x.storage, gradOutput: grad.storage, bias: needBias)
                grads[1] = Tensor(uncheckedShape: weight.shape, storage: dw)
                db = biasGrad
            }
            if bias != nil {
                grads.append(needBias ? try db.map { Tensor(uncheckedShape: [g.o], storage: $0) } ?? grad.sum(dim: 3).sum(dim: 2).sum(dim: 0) : nil)
            }
            return grads
        }
    }
}

/// The values of conv(x, weight) + bias: by the direct kernel or on oneDNN when one takes the
/// shape, else by im2col.
/// With `epilogue`, the fused convolution's values (ConvolutionFusion.swift): on oneDNN the
/// epilogue is applied as its output leaves oneDNN's layout, else in a pass of its own.
func convolutionForward(_ g: ConvGeometry, x: [Float], weight: [Float], bias: [Float]?,
                        epilogue: ConvolutionEpilogue? = nil) throws -> [Float] {
    var out: [Float], written: Bool
    var epilogueApplied = false
    (out, written) = try convolutionOutput(g, x: x, weight: weight, bias: bias) { xp, wp, bp, outp in
        if DirectConvolution.forward(g, x: xp, weight: wp, bias: bp, out: outp) { return true }
        epilogueApplied = epilogue != nil
        return try OneDNNConvolution.forward(g, x: xp, weight: wp, bias: bp, out: outp, epilogue: epilogue)
    }
    if !written {
        epilogueApplied = false
        im2colForward(g, x: x, weight: weight, bias: bias, into: &out)
    }
    if !epilogueApplied, let epilogue { epilogue.apply(to: &out, outer: g.n, channels: g.o, inner: g.oh * g.ow) }
    return out
}

/// A buffer for the convolution's output, not zeroed, and `kernel` run on pointers to x, the
/// weight, the bias (nil without one) and the buffer; `written` is the kernel's answer: true
/// when it took the shape and so wrote every value. An empty output is written by definition.
func convolutionOutput(
    _ g: ConvGeometry, x: [Float], weight: [Float], bias: [Float]?,
    kernel: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>?, UnsafeMutablePointer<Float>) throws -> Bool
) throws -> (out: [Float], written: Bool) {
    let outCount = try checkedCount([g.n, g.o, g.oh, g.ow])
    if outCount == 0 { return ([], true) }
    var out = [Float](unsafeUninitializedCapacity: outCount) { _, initialized in initialized = outCount }
    let written = try x.withUnsafeBufferPointer { px in
        try weight.withUnsafeBufferPointer { pw in
            try out.withUnsafeMutableBufferPointer { po in
                guard let xp = px.baseAddress, let wp = pw.baseAddress, let outp = po.baseAddress else { return false }
                return try withOptionalPointer(bias) { bp in try kernel(xp, wp, bp, outp) }
            }
        }
    }
    return (out, written)
}

/// The gradient with respect to the input of a convolution, from the output gradient: by the
/// direct kernel for the narrow 3×3 convolutions it takes, by Winograd's method for the wide
/// ones it takes, else on oneDNN, else by im2col.
func convolutionInputGradient(_ g: ConvGeometry, gradOutput: [Float], weight: [Float]) throws -> [Float] {
    let count = g.n * g.c * g.h * g.w
    if count == 0 { return [] }
    var dx = [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    let done = try gradOutput.withUnsafeBufferPointer { pg in
        try weight.withUnsafeBufferPointer { pw in
            try dx.withUnsafeMutableBufferPointer { pdx in
                guard let gp = pg.baseAddress, let wp = pw.baseAddress, let dxp = pdx.baseAddress, !gradOutput.isEmpty else { return false }
                return try DirectConvolution.inputGradient(g, gradOutput: gp, weight: wp, into: dxp)
                    || WinogradConvolution.inputGradient(g, gradOutput: gp, weight: wp, into: dxp)
                    || OneDNNConvolution.inputGradient(g, gradOutput: gp, weight: wp, into: dxp)
            }
        }
    }
    if done { return dx }
    return im2colBackward(g, x: [], weight: weight, gradOutput: gradOutput, needInput: true, needWeight: false).dx
}

/// The gradients with respect to the weight and, when `bias`, the bias (nil when the kernel that
/// ran does not give it: the caller sums the output gradient then).
func convolutionWeightGradient(_ g: ConvGeometry, x: [Float], gradOutput: [Float], bias: Bool) throws -> ([Float], [Float]?) {
    let count = g.o * g.cg * g.kh * g.kw
    var dw = [Float](repeating: 0, count: count)
    var db = [Float](repeating: 0, count: bias ? g.o : 0)
    let done = try x.withUnsafeBufferPointer { px in
        try gradOutput.withUnsafeBufferPointer { pg in
            try dw.withUnsafeMutableBufferPointer { pdw in
                try db.withUnsafeMutableBufferPointer { pdb in
                    guard let xp = px.baseAddress, let gp = pg.baseAddress, let dwp = pdw.baseAddress, !gradOutput.isEmpty else { return false }
                    return try OneDNNConvolution.weightGradient(g, x: xp, gradOutput: gp, into: dwp, bias: bias ? pdb.baseAddress : nil)
                }
            }
        }
    }
    if done { return (dw, bias ? db : nil) }
    return (im2colBackward(g, x: x, weight: [], gradOutput: gradOutput, needInput: false, needWeight: true).dw, nil)
}

/// `body` with a pointer to the values of `array`, or nil without one.
func withOptionalPointer<R>(_ array: [Float]?, _ body: (UnsafePointer<Float>?) throws -> R) rethrows -> R {
    guard let array else { return try body(nil) }
    return try array.withUnsafeBufferPointer { try body($0.baseAddress) }
}

/// The im2col forward pass into `out` (every value written).
private func im2colForward(_ g: ConvGeometry, x: [Float], weight: [Float], bias: [Float]?, into out: inout [Float]) {
    let starts = g.chunkStarts
    x.withUnsafeBufferPointer { px in
        weight.withUnsafeBufferPointer { pw in
            out.withUnsafeMutableBufferPointer { pout in
                guard let xp = px.baseAddress, let wp = pw.baseAddress, let outp = pout.baseAddress else { return }
                if g.coresTakeWholeChunks {
                    let workers = Swift.min(threadCount, starts.count)
                    parallelFor(workers) { worker in
                        withChunkBuffers(g) { col, staging in
                            for i in stride(from: worker, to: starts.count, by: workers) {
                                let s0 = starts[i], nb = Swift.min(g.chunk, g.n - s0)
                                g.forwardBlock(x: xp, weight: wp, out: outp, s0: s0, nb: nb, samples: 0..<nb, band: 0..<g.oh, col: col, staging: staging)
                            }
                        }
                    }
                } else {
                    withChunkBuffers(g) { col, staging in
                        for s0 in starts {
                            let nb = Swift.min(g.chunk, g.n - s0)
                            let blocks = g.columnBlocks(nb)
                            parallelFor(blocks.count) { i in
                                g.forwardBlock(x: xp, weight: wp, out: outp, s0: s0, nb: nb, samples: blocks[i].samples,
                                               band: blocks[i].rows, col: col, staging: staging)
                            }
                        }
                    }
                }
                if let bias {
                    parallelFor(g.n) { s in
                        for oi in 0..<g.o {
                            let b = bias[oi], row = outp + (s * g.o + oi) * g.p
                            for i in 0..<g.p { row[i] += b }
                        }
                    }
                }
            }
        }
    }
}

/// Runs `body` with an unfolded buffer and a staging buffer sized for one chunk of `g`.
/// Not zeroed: every kernel writes the part of them it reads.
private func withChunkBuffers(_ g: ConvGeometry, _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
    let col = UnsafeMutablePointer<Float>.allocate(capacity: g.unfoldedCount)
    let staging = UnsafeMutablePointer<Float>.allocate(capacity: g.stagingCount)
    defer {
        col.deallocate()
        staging.deallocate()
    }
    body(col, staging)
}

/// Gradients of a convolution with respect to its input and its weight, each only if needed.
/// By im2col; `x` is read only for the weight gradient, `weight` only for the input gradient.
private func im2colBackward(_ g: ConvGeometry, x: [Float], weight: [Float], gradOutput: [Float],
                            needInput: Bool, needWeight: Bool) -> (dx: [Float], dw: [Float]) {
    let inputCount = g.n * g.c * g.h * g.w, weightCount = g.o * g.cg * g.kh * g.kw
    var dx = [Float](repeating: 0, count: needInput ? Swift.max(1, inputCount) : 0)
    var dw = [Float](repeating: 0, count: needWeight ? Swift.max(1, weightCount) : 0)
    // Placeholders for the operand not read, so every base address exists.
    let x = needWeight ? x : [0], weight = needInput ? weight : [0]
    let starts = g.chunkStarts
    x.withUnsafeBufferPointer { px in
        weight.withUnsafeBufferPointer { pw in
            gradOutput.withUnsafeBufferPointer { pg in
                dx.withUnsafeMutableBufferPointer { pdx in
                    dw.withUnsafeMutableBufferPointer { pdw in
                        guard let xp = px.baseAddress, let wp = pw.baseAddress, let gp = pg.baseAddress else { return }
                        if g.coresTakeWholeChunks {
                            // Each core takes whole chunks: input gradients go to disjoint samples;
                            // weight gradients into the core's own sum, added up at the end.
                            let workers = Swift.min(threadCount, starts.count)
                            var partial = [Float](repeating: 0, count: needWeight ? workers * weightCount : 0)
                            partial.withUnsafeMutableBufferPointer { ppart in
                                parallelFor(workers) { worker in
                                    let mine = needWeight ? ppart.baseAddress.map { $0 + worker * weightCount } : nil
                                    withChunkBuffers(g) { col, staging in
                                        for i in stride(from: worker, to: starts.count, by: workers) {
                                            let s0 = starts[i], nb = Swift.min(g.chunk, g.n - s0)
                                            g.backwardChunk(x: xp, weight: wp, gy: gp, s0: s0, nb: nb, parts: 1, col: col, staging: staging,
                                                            dx: needInput ? pdx.baseAddress : nil, dw: mine)
                                        }
                                    }
                                }
                                if needWeight, let total = pdw.baseAddress, let parts = ppart.baseAddress {
                                    for worker in 0..<workers {
                                        for i in 0..<weightCount { total[i] += parts[worker * weightCount + i] }
                                    }
                                }
                            }
                        } else {
                            withChunkBuffers(g) { col, staging in
                                for s0 in starts {
                                    let nb = Swift.min(g.chunk, g.n - s0)
                                    g.backwardChunk(x: xp, weight: wp, gy: gp, s0: s0, nb: nb, parts: threadCount, col: col, staging: staging,
                                                    dx: needInput ? pdx.baseAddress : nil, dw: needWeight ? pdw.baseAddress : nil)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if needInput && inputCount == 0 { dx = [] }
    if needWeight && weightCount == 0 { dw = [] }
    return (dx, dw)
}
