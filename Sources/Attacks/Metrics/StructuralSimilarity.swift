import CStructuralSimilarity
import Foundation
import Tensor

/// Structural similarity (Wang et al. 2004) of two image batches: an 11×11 Gaussian window with
/// σ = 1.5, K1 = 0.01, K2 = 0.03, data range 1, over the valid region (where the window fits),
/// per channel, the map averaged per image.
///
/// The five windowed moments (means of x, y, x², y², xy) are taken plane by plane with the
/// separable Gaussian, rows then columns, only where the window fits, and the map is summed as
/// it is made: no padded blur of whole tensors and no temporaries per term. That plane sum is in
/// C (`Sources/CStructuralSimilarity`), which takes 8 lanes per instruction where the CPU has AVX;
/// the arithmetic is the same on every CPU.
enum StructuralSimilarity {
    /// The window's width; the C filter is written out for its 11 taps.
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
        // Planes split across the cores, each part with its own scratch: the row-filtered
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
                        var scratch = [Float](repeating: 0, count: smia_ssim_scratch(Int32(h), Int32(w)))
                        scratch.withUnsafeMutableBufferPointer { ps in
                            for plane in (planes * p / parts)..<(planes * (p + 1) / parts) {
                                sum[plane] = smia_ssim_plane_sum(x + plane * h * w, y + plane * h * w, Int32(h), Int32(w),
                                                                 taps, c1, c2, ps.baseAddress)
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
}
