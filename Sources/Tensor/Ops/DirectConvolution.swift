import CDirectConvolution
import Foundation

/// 3x3 convolutions with stride 1 and padding 1 over few channels, by the direct kernel of
/// CDirectConvolution (AVX2 and FMA), forward and input gradient. oneDNN computes such a
/// convolution in its blocked layout of 8 channels: with 4 channels half its lanes hold padding
/// and copying the images into and out of that layout costs as much as the arithmetic (a U-Net
/// of width 4 at 64x64 ran its 4-channel convolutions at a sixth of the FMA rate it reached
/// with 32 channels). The direct kernel reads the row-major images as they are.
public enum DirectConvolution {
    /// Whether this CPU runs the kernel (AVX2 and FMA).
    public static let isAvailable = smia_conv3x3_available()

    /// Whether convolutions may run here: on a CPU with AVX2 and FMA, unless `SMIA_DIRECT_CONV=0`.
    /// The tests turn it off to compare with the other kernels.
    public static var enabled = isAvailable && ProcessInfo.processInfo.environment["SMIA_DIRECT_CONV"] != "0"

    /// The most input or output channels it takes, and the narrowest images: with more channels
    /// or rows of one vector, oneDNN's blocked kernels fill their vectors and were faster
    /// (measured on an AVX2 CPU on the shapes of the U-Net and the detector at batch 16).
    public static let maxChannels = 16
    public static let minWidth = 16

    /// Whether the kernel computes `g` (and, for the input gradient, its transpose).
    static func takes(_ g: ConvGeometry) -> Bool {
        enabled && g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.ph == 1 && g.pw == 1 && g.dh == 1 && g.dw == 1
            && g.groups == 1 && g.w % 8 == 0 && g.w >= minWidth && g.c <= maxChannels && g.o <= maxChannels && g.n > 0 && g.c > 0 && g.o > 0
    }

    /// Whether a convolution of these sizes runs here (for the tests: they check it does).
    public static func takes(input: [Int], weight: [Int], options: Conv2dOptions) -> Bool {
        (try? ConvGeometry(input: input, weight: weight, options: options, op: "conv2d")).map(takes) ?? false
    }

    /// y = conv(x, weight) + bias into `out` (N, O, H, W); false when the kernel does not take `g`.
    static func forward(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                        out: UnsafeMutablePointer<Float>) -> Bool {
        guard takes(g) else { return false }
        run(x: x, channels: g.c, weight: weight, outputs: g.o, bias: bias, into: out, n: g.n, h: g.h, w: g.w)
        return true
    }

    /// dx from dy into `dx` (N, C, H, W): the convolution of dy with the weight's channels
    /// exchanged and its taps flipped, which with stride 1 and padding 1 is again a 3x3
    /// convolution with padding 1.
    static func inputGradient(_ g: ConvGeometry, gradOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                              into dx: UnsafeMutablePointer<Float>) -> Bool {
        guard takes(g) else { return false }
        var adjoint = [Float](repeating: 0, count: g.c * g.o * 9)
        for oi in 0..<g.o {
            for ci in 0..<g.c {
                for t in 0..<9 { adjoint[(ci * g.o + oi) * 9 + 8 - t] = weight[(oi * g.c + ci) * 9 + t] }
            }
        }
        adjoint.withUnsafeBufferPointer { pa in
            guard let a = pa.baseAddress else { return }
            run(x: gradOutput, channels: g.o, weight: a, outputs: g.c, bias: nil, into: dx, n: g.n, h: g.h, w: g.w)
        }
        return true
    }

    /// The convolution of (n, channels, h, w) `x` with (outputs, channels, 3, 3) `weight`, one
    /// work item per sample and block of output channels; each thread pads a sample's planes
    /// into its own buffer once for the blocks it takes of that sample.
    private static func run(x: UnsafePointer<Float>, channels c: Int, weight: UnsafePointer<Float>, outputs o: Int,
                            bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>, n: Int, h: Int, w: Int) {
        let block = Int(SMIA_CONV3X3_BLOCK)
        let blocks = (o + block - 1) / block
        var packed = [Float](repeating: 0, count: blocks * block * c * 9)
        packed.withUnsafeMutableBufferPointer { pp in
            guard let p = pp.baseAddress else { return }
            smia_conv3x3_pack(weight, p, Int32(o), Int32(c))
            let items = n * blocks, workers = Swift.min(threadCount, items)
            let plane = h * w, paddedPlane = (h + 2) * (w + 2)
            parallelFor(workers) { worker in
                let padded = UnsafeMutablePointer<Float>.allocate(capacity: c * paddedPlane)
                defer { padded.deallocate() }
                var paddedSample = -1
                for item in stride(from: worker, to: items, by: workers) {
                    let sample = item / blocks
                    if sample != paddedSample {
                        for ci in 0..<c {
                            smia_conv3x3_pad(x + (sample * c + ci) * plane, padded + ci * paddedPlane, Int32(h), Int32(w))
                        }
                        paddedSample = sample
                    }
                    smia_conv3x3_block(padded, p, bias, y + sample * o * plane, Int32(c), Int32(o), Int32(h), Int32(w),
                                       Int32(item % blocks))
                }
            }
        }
    }
}
