import Tensor
import XCTest

/// The direct 3x3 kernel (3x3, stride 1, padding 1, few channels, widths a multiple of 8)
/// against a loop in double precision and the other kernels, forward and input gradient, and
/// its gradient against finite differences. On a CPU without AVX2 the other kernels run and the
/// checks hold for them.
final class DirectConvolutionTests: XCTestCase {
    override func tearDown() {
        DirectConvolution.enabled = DirectConvolution.isAvailable
        OneDNN.enabled = true
    }

    let padding1 = Conv2dOptions(stride: (1, 1), padding: (1, 1))

    /// Input and weight sizes the kernel takes: strips of two vectors of columns, and of one
    /// after them (24, 40 columns), a block of output channels left partly empty (1, 5, 7
    /// channels), one input channel, one row, 16 channels in and out.
    let shapes: [(input: [Int], weight: [Int])] = [
        ([2, 1, 5, 16], [4, 1, 3, 3]), ([1, 4, 6, 16], [4, 4, 3, 3]), ([3, 3, 7, 24], [5, 3, 3, 3]),
        ([2, 8, 4, 64], [7, 8, 3, 3]), ([1, 5, 9, 40], [8, 5, 3, 3]), ([2, 2, 1, 16], [1, 2, 3, 3]),
        ([2, 16, 3, 16], [16, 16, 3, 3]),
    ]

    func testTheKernelTakesTheseShapesOnAVX2() {
        guard DirectConvolution.isAvailable else { return }
        for s in shapes {
            XCTAssertTrue(DirectConvolution.takes(input: s.input, weight: s.weight, options: padding1), "\(s)")
            // Its input gradient is the convolution with the channels exchanged.
            XCTAssertTrue(DirectConvolution.takes(input: [s.input[0], s.weight[0], s.input[2], s.input[3]],
                                                  weight: [s.weight[1], s.weight[0], 3, 3], options: padding1), "\(s)")
        }
        XCTAssertFalse(DirectConvolution.takes(input: [1, 4, 8, 8], weight: [4, 4, 3, 3], options: padding1), "one vector wide")
        XCTAssertFalse(DirectConvolution.takes(input: [1, 4, 8, 20], weight: [4, 4, 3, 3], options: padding1), "20 columns")
        XCTAssertFalse(DirectConvolution.takes(input: [1, 32, 8, 16], weight: [4, 32, 3, 3], options: padding1), "32 channels")
        XCTAssertFalse(DirectConvolution.takes(input: [1, 4, 8, 16], weight: [4, 4, 3, 3],
                                               options: Conv2dOptions(stride: (2, 2), padding: (1, 1))), "stride 2")
    }

    func testForwardAndInputGradientAgainstADoubleLoop() throws {
        for (i, s) in shapes.enumerated() {
            let seed = UInt64(500 + 10 * i)
            let x = Make.normal(s.input, seed: seed), w = Make.normal(s.weight, seed: seed + 1, scale: 0.3)
            let b = Make.normal([s.weight[0]], seed: seed + 2)
            for bias in [b, nil] {
                let expected = ConvolutionGradTests.naiveConv2d(x, w, bias, padding1)
                let y = try Tensor.conv2d(x, weight: w, bias: bias, options: padding1)
                assertValues(y, expected.shape, expected.values, accuracy: 1e-4, "forward \(s) bias \(bias != nil)")
            }
            // The input gradient of sum(y · r) is the transposed convolution of r: each input
            // value gets the weights of the output positions it feeds.
            let leaf = try Tensor(shape: x.shape, storage: x.storage)
            leaf.requiresGrad = true
            let r = Make.normal([s.input[0], s.weight[0], s.input[2], s.input[3]], seed: seed + 3)
            let dx = try grad(of: (Tensor.conv2d(leaf, weight: w, bias: b, options: padding1) * r).sum(), wrt: [leaf])[0]
            assertValues(dx, x.shape, Self.naiveInputGradient(r, w, inputShape: x.shape), accuracy: 1e-4, "input gradient \(s)")
        }
    }

    func testAgreesWithTheOtherKernels() throws {
        for (i, s) in shapes.enumerated() {
            let seed = UInt64(700 + 10 * i)
            let x = Make.normal(s.input, seed: seed), w = Make.normal(s.weight, seed: seed + 1, scale: 0.3)
            let b = Make.normal([s.weight[0]], seed: seed + 2), r = Make.normal([s.input[0], s.weight[0], s.input[2], s.input[3]], seed: seed + 3)
            func run() throws -> (Tensor, Tensor) {
                let leaf = try Tensor(shape: x.shape, storage: x.storage)
                leaf.requiresGrad = true
                let y = try Tensor.conv2d(leaf, weight: w, bias: b, options: padding1)
                return (y.detached(), try grad(of: (y * r).sum(), wrt: [leaf])[0])
            }
            let direct = try run()
            DirectConvolution.enabled = false
            let oneDNN = try run()
            OneDNN.enabled = false
            let im2col = try run()
            DirectConvolution.enabled = DirectConvolution.isAvailable
            OneDNN.enabled = true
            for (other, name) in [(oneDNN, "oneDNN"), (im2col, "im2col")] {
                // Float32 sums of at most 8 · 9 terms in another order: far below 1e-5 of the scale.
                for (a, b, what) in [(direct.0, other.0, "value"), (direct.1, other.1, "input gradient")] {
                    let scale = b.storage.map(abs).max() ?? 1
                    let err = zip(a.storage, b.storage).map { abs($0 - $1) }.max() ?? 0
                    XCTAssertLessThanOrEqual(err, 1e-5 * scale, "\(s) \(what) against \(name)")
                }
            }
        }
    }

    func testGradientAgainstFiniteDifferences() {
        let x = Make.normal([2, 3, 4, 16], seed: 3), w = Make.normal([5, 3, 3, 3], seed: 4, scale: 0.5), b = Make.normal([5], seed: 5)
        gradCheck("direct conv2d input only", [x, w, b], wrt: [0], tolerance: 1e-3) {
            try Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], options: self.padding1)
        }
        gradCheck("direct conv2d all", [x, w, b], tolerance: 1e-3) {
            try Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], options: self.padding1)
        }
    }

    /// dx[n][c][i][j] = Σ_o Σ_ky,kx r[n][o][i - ky + 1][j - kx + 1] · w[o][c][ky][kx], in Double.
    static func naiveInputGradient(_ r: Tensor, _ w: Tensor, inputShape: [Int]) -> [Float] {
        let (n, c, h, wd) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let o = w.shape[0]
        var dx = [Float](repeating: 0, count: n * c * h * wd)
        for s in 0..<n {
            for ci in 0..<c {
                for i in 0..<h {
                    for j in 0..<wd {
                        var acc = 0.0
                        for oi in 0..<o {
                            for ky in 0..<3 {
                                for kx in 0..<3 {
                                    let y = i - ky + 1, x = j - kx + 1
                                    guard y >= 0, y < h, x >= 0, x < wd else { continue }
                                    acc += Double(r.storage[((s * o + oi) * h + y) * wd + x]) * Double(w.storage[((oi * c + ci) * 3 + ky) * 3 + kx])
                                }
                            }
                        }
                        dx[((s * c + ci) * h + i) * wd + j] = Float(acc)
                    }
                }
            }
        }
        return dx
    }
}
