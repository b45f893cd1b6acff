import Foundation

/// The input gradient of 3×3 convolutions of stride 1 by Winograd's minimal filtering
/// F(2×2, 3×3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016). That
/// gradient is itself such a convolution, of the output gradient with the filters rotated by
/// 180° and their channels swapped; each 2×2 block of its outputs costs 16 multiplications
/// instead of 36. The input is cut into overlapping 4×4 tiles, each tile and each 3×3 filter is
/// transformed into 16 values, the 16 positions become 16 independent matrix products
/// (out-channels × in-channels by in-channels × tiles) on OpenBLAS, and each product's 4×4
/// result turns back into 2×2 outputs.
///
/// Every attack step runs this gradient through the whole network, and oneDNN's AVX2 kernels
/// compute it directly (oneDNN has Winograd only for AVX-512). Measured in CPU time on AVX2, it
/// is 25-30% cheaper here from 128 channels on.
///
/// Only the gradient: the transforms add and subtract values, so results differ from a direct
/// convolution by rounding of about 1e-6 of their scale. In the forward pass that is enough to
/// flip a max-pooling or ReLU decision now and then, which an iterative sign attack amplifies
/// (ResNet-18's PGD fixture moved in 3% of its values after five steps); the forward pass
/// stays on the direct kernels PyTorch also uses, and the fixtures still match it. In the
/// gradient the same rounding changes no fixture value. `SMIA_WINOGRAD=0` turns the path off.
public enum WinogradConvolution {
    /// On unless `SMIA_WINOGRAD=0`; the tests turn it off to compare with the other kernels.
    public static var enabled = ProcessInfo.processInfo.environment["SMIA_WINOGRAD"] != "0"

    /// Below this many channels on either side the products are too thin to pay for the
    /// transforms: measured in CPU time against oneDNN's direct kernels on AVX2, Winograd
    /// saves 25-30% from 128 channels on (ResNet-18's stages 2-4, 28² down to 7²), nothing at
    /// 64 channels on 56², and loses at 64 channels on 16² or fewer (the U-Net's and the
    /// detector's layers). The tests lower it to run small shapes through this path.
    public static var minimumChannels = 128

    /// Whether the input gradient of the convolution of `g` runs here: 3×3 filters, stride 1,
    /// no dilation, no groups, padding of at most 2 (the gradient's padding is 2 minus it).
    static func takes(_ g: ConvGeometry) -> Bool {
        enabled && g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.groups == 1
            && g.ph <= 2 && g.pw <= 2 && g.c >= minimumChannels && g.o >= minimumChannels
    }

    /// dx from dy, into `dx` (N, C, H, W): the convolution of dy with the flipped filters, their
    /// in- and out-channels swapped, padded by 2 minus the forward padding.
    static func inputGradient(_ g: ConvGeometry, gradOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                              into dx: UnsafeMutablePointer<Float>) throws -> Bool {
        guard takes(g) else { return false }
        let filters = WinogradFilterCache.shared.filters(weight, outChannels: g.o, inChannels: g.c)
        try filters.withUnsafeBufferPointer { u in
            try run(Plan(n: g.n, inChannels: g.o, h: g.oh, w: g.ow, outChannels: g.c, ph: 2 - g.ph, pw: 2 - g.pw, oh: g.h, ow: g.w),
                    x: gradOutput, filters: u.baseAddress!, out: dx)
        }
        return true
    }

    /// One convolution's sizes and its tiles: `tileRows` × `tileColumns` tiles of 2×2 outputs
    /// per image, `tiles` in all.
    struct Plan {
        let n, inChannels, h, w, outChannels, ph, pw, oh, ow: Int
        var tileRows: Int { (oh + 1) / 2 }
        var tileColumns: Int { (ow + 1) / 2 }
        var tiles: Int { n * tileRows * tileColumns }
        /// The input padded to whole tiles: rows and columns from -ph and -pw.
        var paddedRows: Int { 2 * tileRows + 2 }
        var paddedColumns: Int { 2 * tileColumns + 2 }
    }

    /// U = G g' Gᵀ for the filters of the input gradient, g'[c][o] = g[o][c] rotated by 180°, as
    /// 16 matrices U[ξ] of in × out channels.
    static func transformedFilters(_ weight: UnsafePointer<Float>, outChannels o: Int, inChannels c: Int) -> [Float] {
        let pairs = o * c
        return [Float](unsafeUninitializedCapacity: 16 * pairs) { u, initialized in
            let base = u.baseAddress!
            parallelRanges(pairs, cost: 64) { range in
                // Written in the order of the target matrix (in × out), read in any.
                for target in range {
                    let (oc, ic) = (target % o, target / o)
                    let f = weight + (oc * c + ic) * 9
                    // Rotating a 3×3 filter by 180° reverses its 9 values.
                    func g(_ k: Int) -> Float { f[8 - k] }
                    // The rows of Gg (4×3), then each row a times Gᵀ: (a0, (a0+a1+a2)/2, (a0-a1+a2)/2, a2).
                    let rows: [(Float, Float, Float)] = [
                        (g(0), g(1), g(2)),
                        ((g(0) + g(3) + g(6)) * 0.5, (g(1) + g(4) + g(7)) * 0.5, (g(2) + g(5) + g(8)) * 0.5),
                        ((g(0) - g(3) + g(6)) * 0.5, (g(1) - g(4) + g(7)) * 0.5, (g(2) - g(5) + g(8)) * 0.5),
                        (g(6), g(7), g(8)),
                    ]
                    for (i, a) in rows.enumerated() {
                        base[(i * 4) * pairs + target] = a.0
                        base[(i * 4 + 1) * pairs + target] = (a.0 + a.1 + a.2) * 0.5
                        base[(i * 4 + 2) * pairs + target] = (a.0 - a.1 + a.2) * 0.5
                        base[(i * 4 + 3) * pairs + target] = a.2
                    }
                }
            }
            initialized = 16 * pairs
        }
    }

    /// The three steps: input tiles transformed into V[ξ] (in channels × tiles), the 16 products
    /// M[ξ] = U[ξ] V[ξ] (out channels × tiles), and M turned back into outputs.
    static func run(_ plan: Plan, x: UnsafePointer<Float>, filters: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) throws {
        let tiles = plan.tiles
        try MemoryBudget.check(count: 16 * max(plan.inChannels, plan.outChannels), itemBytes: tiles * MemoryLayout<Float>.size,
                               "conv2d: Winograd tiles")
        var transformedInput = [Float](unsafeUninitializedCapacity: 16 * plan.inChannels * tiles) { _, n in n = 16 * plan.inChannels * tiles }
        var products = [Float](unsafeUninitializedCapacity: 16 * plan.outChannels * tiles) { _, n in n = 16 * plan.outChannels * tiles }
        transformedInput.withUnsafeMutableBufferPointer { v in transformInput(plan, x, into: v.baseAddress!) }
        transformedInput.withUnsafeBufferPointer { v in
            products.withUnsafeMutableBufferPointer { m in
                let (vp, mp) = (v.baseAddress!, m.baseAddress!)
                let (o, c) = (plan.outChannels, plan.inChannels)
                parallelFor(16) { xi in
                    sgemm(m: o, n: tiles, k: c, a: filters + xi * o * c, lda: c, b: vp + xi * c * tiles, ldb: tiles,
                          c: mp + xi * o * tiles, ldc: tiles)
                }
            }
        }
        products.withUnsafeBufferPointer { m in transformOutput(plan, m.baseAddress!, into: out) }
    }

    /// V = Bᵀ d B for every 4×4 input tile d, tile p of image n at V[ξ][channel][p].
    private static func transformInput(_ plan: Plan, _ x: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>) {
        let (c, tiles, tc) = (plan.inChannels, plan.tiles, plan.tileColumns)
        let (rows, columns) = (plan.paddedRows, plan.paddedColumns)
        parallelRanges(plan.n * c, cost: plan.h * plan.w * 4) { planes in
            let padded = UnsafeMutablePointer<Float>.allocate(capacity: rows * columns + 4 * columns)
            defer { padded.deallocate() }
            let t = padded + rows * columns
            for plane in planes {
                let (image, channel) = (plane / c, plane % c)
                // The plane with its zero border, as far as whole tiles reach.
                padded.initialize(repeating: 0, count: rows * columns)
                let source = x + plane * plan.h * plan.w
                for r in 0..<plan.h {
                    (padded + (r + plan.ph) * columns + plan.pw).update(from: source + r * plan.w, count: plan.w)
                }
                for tileRow in 0..<plan.tileRows {
                    let d0 = padded + 2 * tileRow * columns
                    let (d1, d2, d3) = (d0 + columns, d0 + 2 * columns, d0 + 3 * columns)
                    // Bᵀ d: the four rows combined, over the whole padded width.
                    forEachLane(columns) { k, load, store in
                        let (a, b, e, f) = (load(d0 + k), load(d1 + k), load(d2 + k), load(d3 + k))
                        store(t + k, a - e)
                        store(t + columns + k, b + e)
                        store(t + 2 * columns + k, e - b)
                        store(t + 3 * columns + k, b - f)
                    }
                    // (Bᵀ d) B: per tile, from columns 2q ..< 2q + 4.
                    let first = (image * plan.tileRows + tileRow) * tc
                    for i in 0..<4 {
                        let row = t + i * columns
                        let v0 = v + ((i * 4) * c + channel) * tiles + first
                        let (v1, v2, v3) = (v0 + c * tiles, v0 + 2 * c * tiles, v0 + 3 * c * tiles)
                        for q in 0..<tc {
                            let (a, b, e, f) = (row[2 * q], row[2 * q + 1], row[2 * q + 2], row[2 * q + 3])
                            v0[q] = a - e
                            v1[q] = b + e
                            v2[q] = e - b
                            v3[q] = b - f
                        }
                    }
                }
            }
        }
    }

    /// Y = Aᵀ M A for every tile, into the (N, O, OH, OW) output.
    private static func transformOutput(_ plan: Plan, _ m: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let (o, tiles, tc) = (plan.outChannels, plan.tiles, plan.tileColumns)
        parallelRanges(plan.n * o, cost: plan.oh * plan.ow * 4) { planes in
            // Aᵀ M for the tiles of one tile row: 2 rows × 4 columns of values per tile, then the
            // two output rows of the tile row.
            let s = UnsafeMutablePointer<Float>.allocate(capacity: 8 * tc + 4 * tc)
            defer { s.deallocate() }
            let rowsOut = s + 8 * tc
            for plane in planes {
                let (image, channel) = (plane / o, plane % o)
                let target = out + plane * plan.oh * plan.ow
                for tileRow in 0..<plan.tileRows {
                    let first = (image * plan.tileRows + tileRow) * tc
                    for j in 0..<4 {
                        let m0 = m + (j * o + channel) * tiles + first
                        let (m1, m2, m3) = (m0 + 4 * o * tiles, m0 + 8 * o * tiles, m0 + 12 * o * tiles)
                        let (s0, s1) = (s + j * tc, s + (4 + j) * tc)
                        forEachLane(tc) { q, load, store in
                            let (a, b, e, f) = (load(m0 + q), load(m1 + q), load(m2 + q), load(m3 + q))
                            store(s0 + q, a + b + e)
                            store(s1 + q, b - e - f)
                        }
                    }
                    for i in 0..<2 {
                        let (a0, a1, a2, a3) = (s + 4 * i * tc, s + (4 * i + 1) * tc, s + (4 * i + 2) * tc, s + (4 * i + 3) * tc)
                        let y = rowsOut + 2 * i * tc
                        for q in 0..<tc {
                            y[2 * q] = a0[q] + a1[q] + a2[q]
                            y[2 * q + 1] = a1[q] - a2[q] - a3[q]
                        }
                    }
                    for i in 0..<2 where 2 * tileRow + i < plan.oh {
                        (target + (2 * tileRow + i) * plan.ow).update(from: rowsOut + 2 * i * tc, count: plan.ow)
                    }
                }
            }
        }
    }

    /// `body(k, load, store)` for k = 0, 8, 16, ... over `count` values, eight lanes at a time,
    /// then one at a time for the rest (the same arithmetic either way). Explicit vectors: the
    /// compiler cannot tell that the rows read and written do not overlap.
    @inline(__always)
    private static func forEachLane(_ count: Int, _ body: (Int, (UnsafePointer<Float>) -> SIMD8<Float>,
                                                           (UnsafeMutablePointer<Float>, SIMD8<Float>) -> Void) -> Void) {
        var k = 0
        while k + 8 <= count {
            body(k, { UnsafeRawPointer($0).loadUnaligned(as: SIMD8<Float>.self) },
                 { UnsafeMutableRawPointer($0).storeBytes(of: $1, as: SIMD8<Float>.self) })
            k += 8
        }
        while k < count {
            body(k, { SIMD8(repeating: $0.pointee) }, { $0.pointee = $1[0] })
            k += 1
        }
    }
}
