import CDNNL
import CDirectConvolution
import Foundation

/// The input gradient of 3×3 convolutions of stride 1 by Winograd's minimal filtering
/// F(4×4, 3×3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016). That
/// gradient is itself such a convolution, of the output gradient with the filters rotated by
/// 180° and their channels swapped; each 4×4 block of its outputs costs 36 multiplications
/// instead of 144. The input is cut into 6×6 tiles overlapping by 2, each tile and each 3×3
/// filter is transformed into 36 values (at the points 0, ±1, ±2 and infinity), the 36
/// positions become 36 independent matrix products (out-channels × in-channels by in-channels ×
/// tiles, `product`), and each product's 6×6 result turns back into 4×4 outputs
/// (`winograd_tiles.c`). A few images at a time, so that the transformed tiles stay in the
/// caches between the three steps.
///
/// Every attack step runs this gradient through the whole network, and oneDNN's AVX2 kernels
/// compute it directly (oneDNN has Winograd only for AVX-512). Measured against them on AVX2
/// (Zen 3, 2 threads), ResNet's 3×3 layers at batch 16 take 30-45% less time from 56² with 64
/// channels down to 14² with 256 and 25% less at 7² with 512.
///
/// Only the gradient: the transforms add and subtract values, so results differ from a direct
/// convolution by rounding of about 1e-6 of their scale. In the forward pass that is enough to
/// flip a max-pooling or ReLU decision now and then, which an iterative sign attack amplifies
/// (ResNet-18's PGD fixture moved in 3% of its values after five steps with the smaller
/// F(2×2, 3×3)); the forward pass stays on the direct kernels PyTorch also uses, and the
/// fixtures still match it. In the gradient the same rounding changes no fixture value.
/// `SMIA_WINOGRAD=0` turns the path off.
public enum WinogradConvolution {
    /// On unless `SMIA_WINOGRAD=0`; the tests turn it off to compare with the other kernels.
    public static var enabled = ProcessInfo.processInfo.environment["SMIA_WINOGRAD"] != "0"

    /// Below this many channels on either side, or this many channels times tiles, the products
    /// are too thin to pay for the transforms. Measured against oneDNN's direct kernels on AVX2:
    /// 64 channels on 8² at batch 16 (1024 tiles of channels) and 512 on 7² at batch 4 (8192)
    /// lose 10-30%, 128 on 8² at batch 16 (8192) breaks even, 512 on 7² at batch 8 (16384) wins
    /// by 20%. The U-Net's and the detector's narrow layers stay on the direct kernels. The
    /// tests lower both to run small shapes through this path.
    public static var minimumChannels = 64
    public static var minimumChannelTiles = 16384

    /// Whether the input gradient of the convolution of `g` runs here: 3×3 filters, stride 1,
    /// no dilation, no groups, padding of at most 2 (the gradient's padding is 2 minus it).
    static func takes(_ g: ConvGeometry) -> Bool {
        enabled && g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.groups == 1
            && g.ph <= 2 && g.pw <= 2 && min(g.c, g.o) >= minimumChannels && min(g.c, g.o) * gradientPlan(g).tiles >= minimumChannelTiles
    }

    /// The input gradient of the convolution of `g` as a convolution of its own: of dy (O
    /// channels, OH × OW), padded by 2 minus the forward padding, into dx (C channels, H × W).
    private static func gradientPlan(_ g: ConvGeometry) -> Plan {
        Plan(n: g.n, inChannels: g.o, h: g.oh, w: g.ow, outChannels: g.c, ph: 2 - g.ph, pw: 2 - g.pw, oh: g.h, ow: g.w)
    }

    /// A fused layer's rule for the gradient of its result, applied to dy as the tiles are read
    /// (ConvolutionEpilogue.convolutionOutputGradient): times ReLU's mask `output > 0` when
    /// `output` (the layer's result, laid out as dy) is given, then times the batch norm's
    /// `scale` per channel when given.
    struct GradientRule {
        let output: UnsafePointer<Float>?
        let scale: UnsafePointer<Float>?
    }

    /// dx from dy, into `dx` (N, C, H, W): the convolution of dy (after `rule`, when given) with
    /// the flipped filters, their in- and out-channels swapped (`gradientPlan`).
    static func inputGradient(_ g: ConvGeometry, gradOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                              into dx: UnsafeMutablePointer<Float>, rule: GradientRule? = nil) throws -> Bool {
        guard takes(g) else { return false }
        let filters = WinogradFilterCache.shared.filters(weight, outChannels: g.o, inChannels: g.c)
        try filters.withUnsafeBufferPointer { u in
            try run(gradientPlan(g), x: gradOutput, rule: rule, filters: u.baseAddress!, out: dx)
        }
        return true
    }

    /// One convolution's sizes and its tiles: `tileRows` × `tileColumns` tiles of 4×4 outputs
    /// per image, `tiles` in all.
    struct Plan {
        let n, inChannels, h, w, outChannels, ph, pw, oh, ow: Int
        var tileRows: Int { (oh + 3) / 4 }
        var tileColumns: Int { (ow + 3) / 4 }
        var tilesPerImage: Int { tileRows * tileColumns }
        var tiles: Int { n * tilesPerImage }
    }

    /// G (a, b, c) for one column or row of a 3×3 filter: its 6 values at the points 0, ±1, ±2
    /// and infinity.
    @inline(__always)
    private static func filterPoints(_ a: Float, _ b: Float, _ c: Float) -> SIMD8<Float> {
        let even = (a + c) * (-1 / 6 as Float), odd = b * (-1 / 6 as Float)
        let evenQuarter = a * (1 / 24 as Float) + c * (1 / 6 as Float), oddHalf = b * (1 / 12 as Float)
        return SIMD8(a * 0.25, even + odd, even - odd, evenQuarter + oddHalf, evenQuarter - oddHalf, c, 0, 0)
    }

    /// U = G g' Gᵀ for the filters of the input gradient, g'[c][o] = g[o][c] rotated by 180°, as
    /// 36 matrices U[ξ] of in × out channels.
    static func transformedFilters(_ weight: UnsafePointer<Float>, outChannels o: Int, inChannels c: Int) -> [Float] {
        let pairs = o * c
        return [Float](unsafeUninitializedCapacity: 36 * pairs) { u, initialized in
            let base = u.baseAddress!
            parallelRanges(pairs, cost: 200) { range in
                // Written in the order of the target matrix (in × out), read in any.
                for target in range {
                    let (oc, ic) = (target % o, target / o)
                    let f = weight + (oc * c + ic) * 9
                    // Rotating a 3×3 filter by 180° reverses its 9 values: g'[r][s] = f[8 - 3r - s].
                    let columns = (filterPoints(f[8], f[5], f[2]), filterPoints(f[7], f[4], f[1]), filterPoints(f[6], f[3], f[0]))
                    for i in 0..<6 {
                        let row = filterPoints(columns.0[i], columns.1[i], columns.2[i])
                        for j in 0..<6 { base[(i * 6 + j) * pairs + target] = row[j] }
                    }
                }
            }
            initialized = 36 * pairs
        }
    }

    /// How many images go through the three steps together: enough for at least this many tiles
    /// (thinner products run below a matrix product's speed), otherwise as many as keep the
    /// transformed tiles within this many values (2 MiB, about an L2 cache). Measured with
    /// OpenBLAS's products on ResNet's layers at batch 16: one image at a time at 56² takes 20%
    /// less time than all 16 together, at 28² four at a time take 20% less, at 7² all at once is
    /// fastest.
    private static let groupTiles = 192
    private static let groupValues = 1 << 19

    /// The three steps, a group of images at a time: input tiles transformed into V[ξ] (in
    /// channels × tiles), the 36 products M[ξ] = U[ξ] V[ξ] (out channels × tiles), and M turned
    /// back into outputs.
    static func run(_ plan: Plan, x: UnsafePointer<Float>, rule: GradientRule?, filters: UnsafePointer<Float>,
                    out: UnsafeMutablePointer<Float>) throws {
        let tilesPerImage = plan.tilesPerImage
        let valuesPerImage = 36 * max(plan.inChannels, plan.outChannels) * tilesPerImage
        let group = min(plan.n, max(1, groupValues / valuesPerImage, (groupTiles + tilesPerImage - 1) / tilesPerImage))
        let tiles = group * tilesPerImage
        try MemoryBudget.check(count: 36 * (plan.inChannels + plan.outChannels), itemBytes: tiles * MemoryLayout<Float>.size,
                               "conv2d: Winograd tiles")
        let transformedInput = UnsafeMutablePointer<Float>.allocate(capacity: 36 * plan.inChannels * tiles)
        let products = UnsafeMutablePointer<Float>.allocate(capacity: 36 * plan.outChannels * tiles)
        defer {
            transformedInput.deallocate()
            products.deallocate()
        }
        let (o, c) = (plan.outChannels, plan.inChannels)
        for first in stride(from: 0, to: plan.n, by: group) {
            let part = Plan(n: min(group, plan.n - first), inChannels: c, h: plan.h, w: plan.w,
                            outChannels: o, ph: plan.ph, pw: plan.pw, oh: plan.oh, ow: plan.ow)
            let offset = first * c * plan.h * plan.w
            transformInput(part, x + offset, rule: rule.map { GradientRule(output: $0.output.map { $0 + offset }, scale: $0.scale) },
                           into: transformedInput)
            let partTiles = part.tiles
            parallelFor(36) { xi in
                product(m: o, n: partTiles, k: c, a: filters + xi * o * c, b: transformedInput + xi * c * partTiles,
                        c: products + xi * o * partTiles)
            }
            transformOutput(part, products, into: out + first * o * plan.oh * plan.ow)
        }
    }

    /// C (m × n) = A (m × k) B (k × n), row-major and dense, on the calling thread: the 36 products
    /// are already spread over the cores, and oneDNN reads OpenMP's thread count of the calling
    /// thread, set before each call as for its primitives (OneDNNThreads). On oneDNN's sgemm
    /// rather than OpenBLAS's: it writes C from its kernel, where OpenBLAS first zeroes C in a
    /// pass of its own (2.3% of a ResNet-18 SMIA-10 step; measured 2-3% less time for ResNet's
    /// input gradients). OpenBLAS takes over should oneDNN refuse.
    private static func product(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                c: UnsafeMutablePointer<Float>) {
        let plain = CChar(UInt8(ascii: "N"))
        omp_set_num_threads(1)
        let status = dnnl_sgemm(plain, plain, Int64(m), Int64(n), Int64(k), 1, a, Int64(k), b, Int64(n), 0, c, Int64(n))
        if status != dnnl_success { sgemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: c, ldc: n) }
    }

    /// V = Bᵀ d B for every 6×6 input tile d of x (after `rule`), tile p of image n at V[ξ][channel][p].
    private static func transformInput(_ plan: Plan, _ x: UnsafePointer<Float>, rule: GradientRule?, into v: UnsafeMutablePointer<Float>) {
        let (c, tiles, perImage) = (plan.inChannels, plan.tiles, plan.tilesPerImage)
        let scratch = smia_winograd_input_scratch(Int32(plan.tileRows), Int32(plan.tileColumns))
        parallelRanges(plan.n * c, cost: plan.h * plan.w * 8) { planes in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: scratch)
            defer { buffer.deallocate() }
            for plane in planes {
                let (image, channel) = (plane / c, plane % c)
                let at = plane * plan.h * plan.w
                smia_winograd_input_plane(x + at, rule?.output.map { $0 + at }, rule?.scale?[channel] ?? 1, Int32(plan.h), Int32(plan.w),
                                          Int32(plan.ph), Int32(plan.pw), Int32(plan.tileRows), Int32(plan.tileColumns), buffer,
                                          v + channel * tiles + image * perImage, c * tiles)
            }
        }
    }

    /// Y = Aᵀ M A for every tile, into the (N, O, OH, OW) output.
    private static func transformOutput(_ plan: Plan, _ m: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let (o, tiles, perImage) = (plan.outChannels, plan.tiles, plan.tilesPerImage)
        let scratch = smia_winograd_output_scratch(Int32(plan.tileColumns))
        parallelRanges(plan.n * o, cost: plan.oh * plan.ow * 8) { planes in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: scratch)
            defer { buffer.deallocate() }
            for plane in planes {
                let (image, channel) = (plane / o, plane % o)
                smia_winograd_output_plane(m + channel * tiles + image * perImage, o * tiles, Int32(plan.tileRows),
                                           Int32(plan.tileColumns), Int32(plan.oh), Int32(plan.ow), buffer,
                                           out + plane * plan.oh * plan.ow)
            }
        }
    }
}
