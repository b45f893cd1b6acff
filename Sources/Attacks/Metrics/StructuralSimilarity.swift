import Foundation
import Tensor

/// Structural similarity (Wang et al. 2004) of two image batches: an 11×11 Gaussian window with
/// σ = 1.5, K1 = 0.01, K2 = 0.03, data range 1, over the valid region (where the window fits),
/// per channel, the map averaged per image.
///
/// The five windowed moments (means of x, y, x², y², xy) are taken plane by plane with the
/// separable Gaussian, rows then columns, only where the window fits, and the map is summed as
/// it is made: no padded blur of whole tensors and no temporaries per term.
enum StructuralSimilarity {
    /// The window's width; `planeSum`'s filter is written out for its 11 taps.
    static let window = 11
    static let sigma: Float = 1.5
    static let c1: Float = 0.01 * 0.01, c2: Float = 0.03 * 0.03

    /// SSIM per image of (N, C, H, W) batches, H and W larger than the window.
    static func perImage(_ clean: Tensor, _ adversarial: Tensor) throws -> [Float] {
        guard clean.rank == 4, clean.shape == adversarial.shape else {
            throw TensorError("ssim: expected two images batches of the same size (N, C, H, W), got \(describeShape(clean.shape)) and \(describeShape(adversarial.shape))")
        }
        let (n, c, h, w) = (clean.shape[0], clean.shape[1], clean.shape[2], clean.shape[3])
        guard h > window, w > window else {
            throw TensorError("ssim: images must be larger than the 11x11 window, got \(h)x\(w)")
        }
        let taps = try Tensor.gaussianTaps(size: window, sigma: sigma)
        let oh = h - window + 1, ow = w - window + 1
        // Planes split across the cores, each part with its own buffers: the row-filtered
        // moments (5 × h × ow), one row of each moment's input, one row of the moments.
        let planes = n * c
        let parts = Swift.max(1, Swift.min(threadCount, planes))
        var sums = [Double](repeating: 0, count: planes)
        sums.withUnsafeMutableBufferPointer { ps in
            guard let sum = ps.baseAddress else { return }
            clean.storage.withUnsafeBufferPointer { px in
                adversarial.storage.withUnsafeBufferPointer { py in
                    guard let x = px.baseAddress, let y = py.baseAddress else { return }
                    let part = { (p: Int) in
                        var filtered = [Float](repeating: 0, count: 5 * h * ow)
                        var row = [Float](repeating: 0, count: 5 * w)
                        var moments = [Float](repeating: 0, count: 5 * ow)
                        filtered.withUnsafeMutableBufferPointer { pf in
                            row.withUnsafeMutableBufferPointer { pr in
                                moments.withUnsafeMutableBufferPointer { pm in
                                    guard let f = pf.baseAddress, let r = pr.baseAddress, let m = pm.baseAddress else { return }
                                    for plane in (planes * p / parts)..<(planes * (p + 1) / parts) {
                                        sum[plane] = planeSum(x + plane * h * w, y + plane * h * w, h: h, w: w, taps: taps,
                                                              filtered: f, row: r, moments: m)
                                    }
                                }
                            }
                        }
                    }
                    parallelFor(parts, part)
                }
            }
        }
        let positions = Double(c * oh * ow)
        return (0..<n).map { i in Float((0..<c).reduce(0.0) { $0 + sums[i * c + $1] } / positions) }
    }

    /// The sum of the SSIM map of one plane. The taps are symmetric: the two taps at the same
    /// distance from the centre share one multiplication. Eight positions at a time, every tap
    /// summed in registers before one store; the same operations in the same order as one
    /// position at a time (the tails), so the moments do not depend on where a position falls.
    private static func planeSum(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, h: Int, w: Int, taps k: [Float],
                                 filtered: UnsafeMutablePointer<Float>, row: UnsafeMutablePointer<Float>,
                                 moments m: UnsafeMutablePointer<Float>) -> Double {
        let oh = h - window + 1, ow = w - window + 1, r = window / 2
        let lanes = Lanes.scalarCount
        let tap = (0...r).map { Lanes(repeating: k[$0]) }
        let (k0, k1, k2, k3, k4, k5) = (tap[0], tap[1], tap[2], tap[3], tap[4], tap[5])
        // One line of `count` outputs: dst[j] = Σ_t k[t] · src[j + t · step], step 1 along a row
        // or `ow` down the columns of the row-filtered moments.
        func filter(_ src: UnsafePointer<Float>, step: Int, into dst: UnsafeMutablePointer<Float>, count: Int) {
            var j = 0
            while j + lanes <= count {
                func at(_ t: Int) -> Lanes { Lanes.load(src + t * step + j) }
                var sum = k5 * at(5)
                sum += k0 * (at(0) + at(10))
                sum += k1 * (at(1) + at(9))
                sum += k2 * (at(2) + at(8))
                sum += k3 * (at(3) + at(7))
                sum += k4 * (at(4) + at(6))
                sum.store(to: dst + j)
                j += lanes
            }
            while j < count {
                var sum = k[r] * src[r * step + j]
                for t in 0..<r { sum += k[t] * (src[t * step + j] + src[(window - 1 - t) * step + j]) }
                dst[j] = sum
                j += 1
            }
        }
        // Rows: each moment's input row filtered at the ow positions where the window fits.
        for i in 0..<h {
            let xr = x + i * w, yr = y + i * w
            var j = 0
            while j + lanes <= w {
                let u = Lanes.load(xr + j), v = Lanes.load(yr + j)
                u.store(to: row + j)
                v.store(to: row + w + j)
                (u * u).store(to: row + 2 * w + j)
                (v * v).store(to: row + 3 * w + j)
                (u * v).store(to: row + 4 * w + j)
                j += lanes
            }
            for j in j..<w {
                let u = xr[j], v = yr[j]
                row[j] = u
                row[w + j] = v
                row[2 * w + j] = u * u
                row[3 * w + j] = v * v
                row[4 * w + j] = u * v
            }
            for q in 0..<5 { filter(row + q * w, step: 1, into: filtered + (q * h + i) * ow, count: ow) }
        }
        // Columns, then the map of each output row, summed in lanes and the tail.
        var total = 0.0
        let two = Lanes(repeating: 2), c1s = Lanes(repeating: c1), c2s = Lanes(repeating: c2)
        for i in 0..<oh {
            for q in 0..<5 { filter(filtered + (q * h + i) * ow, step: ow, into: m + q * ow, count: ow) }
            var sums = Lanes(repeating: 0)
            var j = 0
            while j + lanes <= ow {
                let mx = Lanes.load(m + j), my = Lanes.load(m + ow + j)
                let sxx = Lanes.load(m + 2 * ow + j) - mx * mx, syy = Lanes.load(m + 3 * ow + j) - my * my
                let sxy = Lanes.load(m + 4 * ow + j) - mx * my
                let numerator: Lanes = (mx * my * two + c1s) * (sxy * two + c2s)
                let denominator: Lanes = (mx * mx + my * my + c1s) * (sxx + syy + c2s)
                sums += numerator / denominator
                j += lanes
            }
            var rowSum = sums.sum()
            while j < ow {
                let mx = m[j], my = m[ow + j]
                let sxx = m[2 * ow + j] - mx * mx, syy = m[3 * ow + j] - my * my, sxy = m[4 * ow + j] - mx * my
                rowSum += (mx * my * 2 + c1) * (sxy * 2 + c2) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
                j += 1
            }
            total += Double(rowSum)
        }
        return total
    }

    private typealias Lanes = SIMD8<Float>
}
