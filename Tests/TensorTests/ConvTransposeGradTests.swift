import Tensor
import XCTest

/// conv_transpose2d: gradients for input, weight and bias, forward values against the direct
/// scatter loop of PyTorch's definition, and the adjoint identity with conv2d.
final class ConvTransposeGradTests: XCTestCase {
    struct Case {
        var name: String
        var input: [Int]        // N, in, H, W
        var weight: [Int]       // in, out/groups, kH, kW
        var options: ConvTranspose2dOptions
    }

    static func opts(stride: Int = 1, padding: Int = 0, outputPadding: Int = 0, dilation: Int = 1, groups: Int = 1) -> ConvTranspose2dOptions {
        ConvTranspose2dOptions(stride: (stride, stride), padding: (padding, padding), outputPadding: (outputPadding, outputPadding),
                               dilation: (dilation, dilation), groups: groups)
    }

    let cases: [Case] = [
        Case(name: "3x3", input: [2, 2, 3, 3], weight: [2, 3, 3, 3], options: opts()),
        Case(name: "2x2 stride 2", input: [2, 3, 3, 3], weight: [3, 2, 2, 2], options: opts(stride: 2)),
        Case(name: "3x3 stride 2 padding 1", input: [1, 2, 3, 4], weight: [2, 2, 3, 3], options: opts(stride: 2, padding: 1)),
        Case(name: "output padding 1", input: [1, 2, 3, 3], weight: [2, 2, 3, 3], options: opts(stride: 2, padding: 1, outputPadding: 1)),
        Case(name: "dilation 2", input: [1, 2, 3, 3], weight: [2, 2, 3, 3], options: opts(dilation: 2)),
        Case(name: "output padding from dilation", input: [1, 2, 3, 3], weight: [2, 2, 2, 2], options: opts(outputPadding: 1, dilation: 2)),
        Case(name: "groups 2", input: [2, 4, 3, 3], weight: [4, 3, 3, 3], options: opts(stride: 2, padding: 1, groups: 2)),
        Case(name: "depthwise", input: [1, 3, 4, 4], weight: [3, 1, 2, 2], options: opts(stride: 2, groups: 3)),
        Case(name: "1x1", input: [3, 4, 3, 3], weight: [4, 2, 1, 1], options: opts()),
        Case(name: "asymmetric", input: [1, 2, 3, 4], weight: [2, 2, 2, 3],
             options: ConvTranspose2dOptions(stride: (2, 1), padding: (1, 0), outputPadding: (1, 0), dilation: (1, 2))),
    ]

    /// Big enough to batch several samples per chunk (7 samples of 16x16) and to run one sample
    /// at a time (40x40).
    let largeCases: [Case] = [
        Case(name: "chunks", input: [7, 4, 16, 16], weight: [4, 3, 2, 2], options: opts(stride: 2)),
        Case(name: "one per chunk", input: [2, 3, 40, 40], weight: [3, 2, 3, 3], options: opts(stride: 2, padding: 1, outputPadding: 1)),
    ]

    /// PyTorch's definition: input pixel (y, x) adds w · x to output (y·s - p + ky·d, x·s - p + kx·d).
    static func naive(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ o: ConvTranspose2dOptions) -> (shape: [Int], values: [Float]) {
        let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (og, kh, kw) = (w.shape[1], w.shape[2], w.shape[3])
        let cout = og * o.groups, ig = cin / o.groups
        let oh = (h - 1) * o.stride.0 - 2 * o.padding.0 + o.dilation.0 * (kh - 1) + o.outputPadding.0 + 1
        let ow = (wd - 1) * o.stride.1 - 2 * o.padding.1 + o.dilation.1 * (kw - 1) + o.outputPadding.1 + 1
        var out = [Double](repeating: 0, count: n * cout * oh * ow)
        for s in 0..<n {
            for co in 0..<cout { for i in 0..<(oh * ow) { out[(s * cout + co) * oh * ow + i] = Double(b?.storage[co] ?? 0) } }
            for ci in 0..<cin {
                let group = ci / ig
                for j in 0..<og {
                    let co = group * og + j
                    for y in 0..<h {
                        for xi in 0..<wd {
                            let v = Double(x.storage[((s * cin + ci) * h + y) * wd + xi])
                            for ky in 0..<kh {
                                for kx in 0..<kw {
                                    let oy = y * o.stride.0 - o.padding.0 + ky * o.dilation.0
                                    let ox = xi * o.stride.1 - o.padding.1 + kx * o.dilation.1
                                    guard oy >= 0, oy < oh, ox >= 0, ox < ow else { continue }
                                    out[((s * cout + co) * oh + oy) * ow + ox] += v * Double(w.storage[((ci * og + j) * kh + ky) * kw + kx])
                                }
                            }
                        }
                    }
                }
            }
        }
        return ([n, cout, oh, ow], out.map(Float.init))
    }

    func testGradients() {
        for (i, c) in cases.enumerated() {
            let seed = UInt64(10 * i)
            let x = Make.normal(c.input, seed: seed + 1)
            let w = Make.normal(c.weight, seed: seed + 2, scale: 0.5)
            let b = Make.normal([c.weight[1] * c.options.groups], seed: seed + 3)
            gradCheck("conv_transpose2d \(c.name) with bias", [x, w, b], tolerance: 1e-3) {
                try Tensor.convTranspose2d($0[0], weight: $0[1], bias: $0[2], options: c.options)
            }
            gradCheck("conv_transpose2d \(c.name) without bias", [x, w], tolerance: 1e-3) {
                try Tensor.convTranspose2d($0[0], weight: $0[1], bias: nil, options: c.options)
            }
        }
    }

    func testGradientsOnLargeInputs() {
        for (i, c) in largeCases.enumerated() {
            let seed = UInt64(100 + 10 * i)
            let x = Make.normal(c.input, seed: seed + 1)
            let w = Make.normal(c.weight, seed: seed + 2, scale: 0.5)
            let b = Make.normal([c.weight[1] * c.options.groups], seed: seed + 3)
            directionalCheck("conv_transpose2d \(c.name)", [x, w, b], tolerance: 1e-3) {
                try Tensor.convTranspose2d($0[0], weight: $0[1], bias: $0[2], options: c.options)
            }
            directionalCheck("conv_transpose2d \(c.name) weight only", [x, w, b], wrt: [1], tolerance: 1e-3) {
                try Tensor.convTranspose2d($0[0], weight: $0[1], bias: $0[2], options: c.options)
            }
        }
    }

    func testForwardAgainstDirectLoop() throws {
        for (i, c) in (cases + largeCases).enumerated() {
            let seed = UInt64(1000 + 10 * i)
            let x = Make.normal(c.input, seed: seed + 1)
            let w = Make.normal(c.weight, seed: seed + 2, scale: 0.5)
            let b = Make.normal([c.weight[1] * c.options.groups], seed: seed + 3)
            for bias in [b, nil] {
                let expected = Self.naive(x, w, bias, c.options)
                let y = try Tensor.convTranspose2d(x, weight: w, bias: bias, options: c.options)
                assertValues(y, expected.shape, expected.values, accuracy: 1e-4, "conv_transpose2d \(c.name) bias \(bias != nil)")
            }
        }
    }

    /// <conv_transpose2d(x), y> = <x, conv2d(y)> with the same weight: it is conv2d's adjoint.
    func testAdjointOfConvolution() throws {
        for c in cases where c.options.outputPadding == (0, 0) {
            let x = Make.normal(c.input, seed: 1)
            let w = Make.normal(c.weight, seed: 2)
            let t = try Tensor.convTranspose2d(x, weight: w, bias: nil, options: c.options)
            let y = Make.normal(t.shape, seed: 3)
            let conv = Conv2dOptions(stride: c.options.stride, padding: c.options.padding, dilation: c.options.dilation, groups: c.options.groups)
            let back = try Tensor.conv2d(y, weight: w, bias: nil, options: conv)
            XCTAssertEqual(back.shape, x.shape, c.name)
            let lhs = try (t * y).sum().item(), rhs = try (x * back).sum().item()
            XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, abs(lhs)), c.name)
        }
    }

    func testForwardByHand() throws {
        // A 2x2 stride-2 kernel tiles each input pixel into a 2x2 block.
        let x = Make.tensor([1, 1, 2, 2], [1, 2, 3, 4])
        let w = Make.tensor([1, 1, 2, 2], [1, 10, 100, 1000])
        assertValues(try Tensor.convTranspose2d(x, weight: w, bias: nil, options: Self.opts(stride: 2)), [1, 1, 4, 4],
                     [1, 10, 2, 20, 100, 1000, 200, 2000, 3, 30, 4, 40, 300, 3000, 400, 4000], accuracy: 0, "tiles")
        // Stride 1: overlapping kernels add up.
        let ones = Make.tensor([1, 1, 2, 2], [1, 1, 1, 1])
        assertValues(try Tensor.convTranspose2d(x, weight: ones, bias: Make.tensor([1], [0.5])), [1, 1, 3, 3],
                     [1.5, 3.5, 2.5, 4.5, 10.5, 6.5, 3.5, 7.5, 4.5], accuracy: 0, "overlaps")
    }

    func testOutputSizesAndErrors() throws {
        let x = try Tensor.zeros([1, 2, 5, 5])
        let w = try Tensor.zeros([2, 3, 3, 3])
        XCTAssertEqual(try Tensor.convTranspose2d(x, weight: w, bias: nil, options: Self.opts(stride: 2, padding: 1)).shape, [1, 3, 9, 9])
        XCTAssertEqual(try Tensor.convTranspose2d(x, weight: w, bias: nil, options: Self.opts(stride: 2, padding: 1, outputPadding: 1)).shape, [1, 3, 10, 10])
        XCTAssertThrowsError(try Tensor.convTranspose2d(x, weight: w, bias: nil, options: Self.opts(stride: 2, outputPadding: 2))) {
            XCTAssertTrue("\($0)".contains("output_padding"), "\($0)")
        }
        XCTAssertThrowsError(try Tensor.convTranspose2d(x, weight: try Tensor.zeros([3, 3, 3, 3]), bias: nil)) {
            XCTAssertTrue("\($0)".contains("expects 3 input channels, got 2"), "\($0)")
        }
        XCTAssertThrowsError(try Tensor.convTranspose2d(x, weight: w, bias: try Tensor.zeros([2])))
        XCTAssertThrowsError(try Tensor.convTranspose2d(try Tensor.zeros([1, 2, 1, 1]), weight: try Tensor.zeros([2, 1, 1, 1]), bias: nil,
                                                        options: Self.opts(padding: 1))) {
            XCTAssertTrue("\($0)".contains("empty output"), "\($0)")
        }
    }
}
