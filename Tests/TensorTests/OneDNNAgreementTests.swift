import Tensor
import XCTest

/// The oneDNN kernels against the kernels of our own they replace (the fallback when oneDNN
/// cannot take a shape): convolution forward and all its gradients.
/// (ConvolutionGradTests checks whichever runs against finite differences.)
final class OneDNNAgreementTests: XCTestCase {
    override func tearDown() { OneDNN.enabled = true }

    /// Values and gradients of `f` (the projection sum(f(inputs) · r)) with oneDNN on and off.
    private func bothWays(_ inputs: [Tensor], seed: UInt64, _ f: ([Tensor]) throws -> Tensor) throws -> [[Tensor]] {
        try [true, false].map { on in
            OneDNN.enabled = on
            let leaves = try inputs.map { t -> Tensor in
                let leaf = try Tensor(shape: t.shape, storage: t.storage)
                leaf.requiresGrad = true
                return leaf
            }
            let y = try f(leaves)
            let r = Make.normal(y.shape, seed: seed)
            return [y.detached()] + (try grad(of: (y * r).sum(), wrt: leaves))
        }
    }

    /// Each tensor of `a` against `b`, relative to the largest magnitude of `b`'s: float32 sums
    /// of a few hundred terms in another order differ by far less than 1e-4 of that.
    private func assertAgree(_ a: [Tensor], _ b: [Tensor], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        let names = ["value"] + (1..<a.count).map { "gradient \($0 - 1)" }
        for (k, (u, v)) in zip(a, b).enumerated() {
            XCTAssertEqual(u.shape, v.shape, "\(label) \(names[k]): size", file: file, line: line)
            let scale = v.storage.map(abs).max() ?? 0
            let err = zip(u.storage, v.storage).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(err, 1e-4 * Swift.max(scale, 1e-6), "\(label) \(names[k])", file: file, line: line)
        }
    }

    func testConvolution() throws {
        func opts(_ s: Int, _ p: Int, _ d: Int = 1, _ g: Int = 1) -> Conv2dOptions {
            Conv2dOptions(stride: (s, s), padding: (p, p), dilation: (d, d), groups: g)
        }
        let cases: [(String, [Int], [Int], Conv2dOptions)] = [
            ("3x3 padding 1", [3, 4, 9, 9], [8, 4, 3, 3], opts(1, 1)),
            ("one input channel (the small CNN's first layer)", [16, 1, 28, 28], [8, 1, 3, 3], opts(1, 1)),
            ("7x7 stride 2 (the ResNet stem)", [2, 3, 32, 32], [8, 3, 7, 7], opts(2, 3)),
            ("1x1 stride 2", [2, 16, 10, 10], [8, 16, 1, 1], opts(2, 0)),
            ("stride 2 on an even side (right padding below the left)", [2, 4, 8, 8], [4, 4, 3, 3], opts(2, 1)),
            ("dilation 2", [2, 4, 11, 11], [4, 4, 3, 3], opts(1, 2, 2)),
            ("groups 2", [2, 8, 7, 7], [6, 4, 3, 3], opts(1, 1, 1, 2)),
            ("depthwise", [2, 8, 7, 7], [8, 1, 3, 3], opts(1, 1, 1, 8)),
            ("asymmetric", [1, 4, 9, 7], [4, 4, 2, 3], Conv2dOptions(stride: (2, 1), padding: (1, 0), dilation: (1, 2))),
        ]
        for (i, (name, input, weight, options)) in cases.enumerated() {
            let seed = UInt64(40 + 10 * i)
            let x = Make.normal(input, seed: seed), w = Make.normal(weight, seed: seed + 1, scale: 0.3)
            let b = Make.normal([weight[0]], seed: seed + 2)
            let withBias = try bothWays([x, w, b], seed: seed + 3) { try Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], options: options) }
            assertAgree(withBias[0], withBias[1], "conv2d \(name) with bias")
            let without = try bothWays([x, w], seed: seed + 4) { try Tensor.conv2d($0[0], weight: $0[1], bias: nil, options: options) }
            assertAgree(without[0], without[1], "conv2d \(name) without bias")
        }
    }

    func testTransposedConvolution() throws {
        let options = ConvTranspose2dOptions(stride: (2, 2), padding: (1, 1), outputPadding: (1, 1))
        let x = Make.normal([2, 6, 5, 5], seed: 7), w = Make.normal([6, 4, 3, 3], seed: 8, scale: 0.3), b = Make.normal([4], seed: 9)
        let r = try bothWays([x, w, b], seed: 10) { try Tensor.convTranspose2d($0[0], weight: $0[1], bias: $0[2], options: options) }
        assertAgree(r[0], r[1], "conv_transpose2d")
    }
}
