import Tensor
import XCTest

/// conv2d: gradients for input, weight and bias in every configuration the models use, and
/// forward values against a direct loop.
final class ConvolutionGradTests: XCTestCase {
    struct Case {
        var name: String
        var input: [Int]        // N, C, H, W
        var weight: [Int]       // O, C/groups, kH, kW
        var options: Conv2dOptions
    }

    static func opts(stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1) -> Conv2dOptions {
        Conv2dOptions(stride: (stride, stride), padding: (padding, padding), dilation: (dilation, dilation), groups: groups)
    }

    /// Small enough for one finite difference per element.
    let cases: [Case] = [
        Case(name: "3x3", input: [2, 2, 5, 5], weight: [3, 2, 3, 3], options: opts()),
        Case(name: "3x3 padding 1", input: [1, 2, 5, 5], weight: [3, 2, 3, 3], options: opts(padding: 1)),
        Case(name: "stride 2 padding 1", input: [2, 2, 6, 6], weight: [3, 2, 3, 3], options: opts(stride: 2, padding: 1)),
        Case(name: "stride 2 odd size", input: [1, 2, 7, 7], weight: [2, 2, 3, 3], options: opts(stride: 2)),
        Case(name: "dilation 2", input: [1, 2, 7, 7], weight: [2, 2, 3, 3], options: opts(dilation: 2)),
        Case(name: "dilation 2 padding 2", input: [1, 2, 5, 5], weight: [2, 2, 3, 3], options: opts(padding: 2, dilation: 2)),
        Case(name: "groups 2", input: [2, 4, 4, 4], weight: [4, 2, 3, 3], options: opts(padding: 1, groups: 2)),
        Case(name: "groups 2 uneven out", input: [1, 4, 4, 4], weight: [6, 2, 2, 2], options: opts(stride: 2, groups: 2)),
        Case(name: "depthwise", input: [2, 3, 4, 4], weight: [3, 1, 3, 3], options: opts(padding: 1, groups: 3)),
        Case(name: "depthwise multiplier 2 stride 2", input: [1, 3, 5, 5], weight: [6, 1, 3, 3], options: opts(stride: 2, padding: 1, groups: 3)),
        Case(name: "1x1 batch 1", input: [1, 4, 3, 3], weight: [5, 4, 1, 1], options: opts()),
        Case(name: "1x1 batch 3", input: [3, 4, 3, 3], weight: [5, 4, 1, 1], options: opts()),
        Case(name: "1x1 groups 2 batch 1", input: [1, 4, 3, 3], weight: [6, 2, 1, 1], options: opts(groups: 2)),
        Case(name: "1x1 groups 2 batch 2", input: [2, 4, 3, 3], weight: [6, 2, 1, 1], options: opts(groups: 2)),
        Case(name: "1x1 stride 2", input: [2, 3, 5, 5], weight: [2, 3, 1, 1], options: opts(stride: 2)),
        Case(name: "1x1 padding 1", input: [1, 3, 3, 3], weight: [2, 3, 1, 1], options: opts(padding: 1)),
        Case(name: "kernel covers input", input: [2, 2, 3, 3], weight: [2, 2, 3, 3], options: opts()),
        Case(name: "asymmetric", input: [1, 2, 5, 7], weight: [2, 2, 2, 3],
             options: Conv2dOptions(stride: (2, 1), padding: (1, 2), dilation: (1, 2))),
        Case(name: "asymmetric groups", input: [1, 4, 6, 4], weight: [2, 2, 3, 1],
             options: Conv2dOptions(stride: (1, 2), padding: (0, 1), dilation: (2, 1), groups: 2)),
    ]

    /// Large enough to split the batch into chunks and to take the 1x1 fast path for a
    /// lone last sample; checked along random directions and against the direct loop.
    let largeCases: [Case] = [
        // 48x48: two samples per chunk, so batch 3 runs a chunk of 2, then one sample alone.
        Case(name: "1x1 chunks 2+1", input: [3, 2, 48, 48], weight: [3, 2, 1, 1], options: opts()),
        Case(name: "1x1 groups chunks 2+1", input: [3, 4, 48, 48], weight: [6, 2, 1, 1], options: opts(groups: 2)),
        // 64x64: one sample per chunk, every sample through the 1x1 fast path.
        Case(name: "1x1 one sample per chunk", input: [2, 2, 64, 64], weight: [3, 2, 1, 1], options: opts()),
        // 30x30: five samples per chunk, batch 7 gives chunks of 5 and 2.
        Case(name: "3x3 chunks 5+2", input: [7, 2, 30, 30], weight: [3, 2, 3, 3], options: opts(padding: 1)),
        Case(name: "depthwise chunks", input: [7, 3, 30, 30], weight: [3, 1, 3, 3], options: opts(stride: 2, padding: 1, groups: 3)),
    ]

    /// Direct cross-correlation in Double, PyTorch's definition.
    static func naiveConv2d(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ o: Conv2dOptions) -> (shape: [Int], values: [Float]) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oc, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let og = oc / o.groups
        let oh = (h + 2 * o.padding.0 - o.dilation.0 * (kh - 1) - 1) / o.stride.0 + 1
        let ow = (wd + 2 * o.padding.1 - o.dilation.1 * (kw - 1) - 1) / o.stride.1 + 1
        var out: [Float] = []
        for s in 0..<n {
            for oi in 0..<oc {
                let group = oi / og
                for y in 0..<oh {
                    for xo in 0..<ow {
                        var acc = Double(b?.storage[oi] ?? 0)
                        for ci in 0..<cg {
                            for ky in 0..<kh {
                                for kx in 0..<kw {
                                    let iy = y * o.stride.0 - o.padding.0 + ky * o.dilation.0
                                    let ix = xo * o.stride.1 - o.padding.1 + kx * o.dilation.1
                                    guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                                    let xv = x.storage[((s * c + group * cg + ci) * h + iy) * wd + ix]
                                    let wv = w.storage[((oi * cg + ci) * kh + ky) * kw + kx]
                                    acc += Double(xv) * Double(wv)
                                }
                            }
                        }
                        out.append(Float(acc))
                    }
                }
            }
        }
        return ([n, oc, oh, ow], out)
    }

    func testGradients() {
        for (i, c) in cases.enumerated() {
            let seed = UInt64(10 * i)
            let x = Make.normal(c.input, seed: seed + 1)
            let w = Make.normal(c.weight, seed: seed + 2, scale: 0.5)
            let b = Make.normal([c.weight[0]], seed: seed + 3)
            gradCheck("conv2d \(c.name) with bias", [x, w, b], tolerance: 1e-3) {
                try Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], options: c.options)
            }
            gradCheck("conv2d \(c.name) without bias", [x, w], tolerance: 1e-3) {
                try Tensor.conv2d($0[0], weight: $0[1], bias: nil, options: c.options)
            }
            // The attack's case: only the input needs a gradient.
            gradCheck("conv2d \(c.name) input only", [x, w, b], wrt: [0], tolerance: 1e-3) {
                try Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], options: c.options)
            }
        }
    }

    func testGradientsOnLargeInputs() {
        for (i, c) in largeCases.enumerated() {
            let seed = UInt64(100 + 10 * i)
            let x = Make.normal(c.input, seed: seed + 1)
            let w = Make.normal(c.weight, seed: seed + 2, scale: 0.5)
            let b = Make.normal([c.weight[0]], seed: seed + 3)
            directionalCheck("conv2d \(c.name)", [x, w, b], tolerance: 1e-3) {
                try Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], options: c.options)
            }
            directionalCheck("conv2d \(c.name) input only", [x, w, b], wrt: [0], tolerance: 1e-3) {
                try Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], options: c.options)
            }
            directionalCheck("conv2d \(c.name) weight only", [x, w, b], wrt: [1], tolerance: 1e-3) {
                try Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], options: c.options)
            }
        }
    }

    func testForwardAgainstDirectLoop() throws {
        for (i, c) in (cases + largeCases).enumerated() {
            let seed = UInt64(1000 + 10 * i)
            let x = Make.normal(c.input, seed: seed + 1)
            let w = Make.normal(c.weight, seed: seed + 2, scale: 0.5)
            let b = Make.normal([c.weight[0]], seed: seed + 3)
            for bias in [b, nil] {
                let expected = Self.naiveConv2d(x, w, bias, c.options)
                let y = try Tensor.conv2d(x, weight: w, bias: bias, options: c.options)
                assertValues(y, expected.shape, expected.values, accuracy: 1e-4, "conv2d \(c.name) bias \(bias != nil)")
            }
        }
    }

    func testForwardByHand() throws {
        // 1x1x3x3 image 1..9, 2x2 kernel of ones: window sums.
        let x = Make.tensor([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let ones = Make.tensor([1, 1, 2, 2], [1, 1, 1, 1])
        assertValues(try Tensor.conv2d(x, weight: ones, bias: nil), [1, 1, 2, 2], [12, 16, 24, 28], accuracy: 0, "window sums")
        // Padding 1, stride 2: corners of the padded image.
        assertValues(try Tensor.conv2d(x, weight: ones, bias: Make.tensor([1], [0.5]), options: Self.opts(stride: 2, padding: 1)),
                     [1, 1, 2, 2], [1.5, 5.5, 11.5, 28.5], accuracy: 0, "stride 2 padding 1")
        // Dilation 2 spreads a 2x2 kernel over the corners of the 3x3 image.
        let corners = Make.tensor([1, 1, 2, 2], [1, 10, 100, 1000])
        assertValues(try Tensor.conv2d(x, weight: corners, bias: nil, options: Self.opts(dilation: 2)),
                     [1, 1, 1, 1], [1 + 30 + 700 + 9000], accuracy: 0, "dilation 2")
        // Groups: each output channel sees only its own input channel.
        let two = Make.tensor([1, 2, 1, 2], [1, 2, 3, 4])
        let perChannel = Make.tensor([2, 1, 1, 1], [10, 100])
        assertValues(try Tensor.conv2d(two, weight: perChannel, bias: nil, options: Self.opts(groups: 2)),
                     [1, 2, 1, 2], [10, 20, 300, 400], accuracy: 0, "depthwise 1x1")
    }

    func testOutputSizes() throws {
        let x = try Tensor.zeros([1, 1, 7, 7])
        let w = try Tensor.zeros([1, 1, 3, 3])
        XCTAssertEqual(try Tensor.conv2d(x, weight: w, bias: nil, options: Self.opts(stride: 2, padding: 1)).shape, [1, 1, 4, 4])
        XCTAssertEqual(try Tensor.conv2d(x, weight: w, bias: nil, options: Self.opts(dilation: 3)).shape, [1, 1, 1, 1])
        XCTAssertThrowsError(try Tensor.conv2d(x, weight: w, bias: nil, options: Self.opts(dilation: 4)))
        XCTAssertThrowsError(try Tensor.conv2d(x, weight: try Tensor.zeros([2, 1, 3, 3]), bias: nil, options: Self.opts(groups: 2)))
    }
}
