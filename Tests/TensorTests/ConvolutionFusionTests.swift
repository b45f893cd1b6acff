import Tensor
import XCTest

/// The eval-mode fusion of a convolution with the batch norm and ReLU after it
/// (ConvolutionFusion.swift, EvalFusion.swift): the fused chain against the same modules run one
/// by one, with oneDNN and with the kernels of our own, and its gradients against finite
/// differences.
final class ConvolutionFusionTests: XCTestCase {
    private let winogradDefaults = (WinogradConvolution.minimumChannels, WinogradConvolution.minimumChannelTiles)

    override func tearDown() {
        OneDNN.enabled = true
        WinogradConvolution.enabled = true
        (WinogradConvolution.minimumChannels, WinogradConvolution.minimumChannelTiles) = winogradDefaults
    }

    /// A batch norm with running statistics, weight and bias away from their defaults.
    private func batchNorm(_ channels: Int, seed: UInt64) throws -> BatchNorm2d {
        let bn = try BatchNorm2d(numFeatures: channels)
        try bn.runningMean.assign(Make.normal([channels], seed: seed, scale: 0.2))
        try bn.runningVar.assign(Make.uniform([channels], seed: seed + 1, 0.5, 2))
        try bn.weight.assign(Make.normal([channels], seed: seed + 2, shift: 1))
        try bn.bias.assign(Make.normal([channels], seed: seed + 3))
        return bn
    }

    /// The output, then the gradients of sum(output · r) with respect to `x` and `parameters`.
    private func valueAndGradients(_ y: Tensor, _ x: Tensor, _ parameters: [Tensor]) throws -> [Tensor] {
        let r = Make.normal(y.shape, seed: 11)
        return [y.detached()] + (try grad(of: (y * r).sum(), wrt: [x] + parameters))
    }

    /// Fused and one by one compute the same operations in the same order, so they agree to the
    /// bit: values, the input gradient (ReLU's mask and the batch norm's scale, then the
    /// convolution's rule) and every parameter's gradient. Both with oneDNN (post-ops inside
    /// the convolution, or the epilogue after it where oneDNN's kernel cannot fuse exactly) and
    /// without (the epilogue after im2col). The fused graph keeps no intermediate result.
    func testFusedChainEqualsTheLayersOneByOne() throws {
        let shapes: [(String, [Int], Int, Int, Int, Int)] = [
            ("3x3 padding 1", [3, 4, 9, 9], 8, 3, 1, 1),
            ("3x3 stride 2", [2, 8, 10, 10], 16, 3, 2, 1),
            ("1x1 (a bottleneck's)", [2, 16, 7, 7], 8, 1, 1, 0),
            ("one input channel (the small CNN's first layer)", [16, 1, 28, 28], 8, 3, 1, 1),
            ("7x7 stride 2 (the ResNet stem)", [2, 3, 32, 32], 8, 7, 2, 3),
            // oneDNN's output in channel blocks of 8 or 16, the last one padded.
            ("12 output channels", [2, 6, 9, 9], 12, 3, 1, 1),
            ("1x1 to 20 channels", [3, 24, 5, 5], 20, 1, 1, 0),
        ]
        for (label, inShape, out, k, s, p) in shapes {
            for (convBias, withBatchNorm, relu) in [(false, true, true), (true, true, true), (false, true, false), (true, false, true)] {
                let conv = try Conv2d(inChannels: inShape[1], outChannels: out, kernelSize: (k, k), stride: (s, s), padding: (p, p), bias: convBias)
                let bn = try batchNorm(out, seed: 3)
                let layers: [Module] = [conv] + (withBatchNorm ? [bn] : []) + (relu ? [ReLU()] : [])
                let model = Sequential(layers)
                model.eval()
                let parameters = model.namedParameters().map(\.tensor)
                let x = Make.normal(inShape, seed: 2)
                x.requiresGrad = true
                let what = "\(label), conv bias \(convBias), batch norm \(withBatchNorm), relu \(relu)"
                var fusedRuns: [[Tensor]] = []
                for onednn in [true, false] {
                    OneDNN.enabled = onednn
                    let fused = try model(x)
                    var y = x
                    for layer in layers { y = try layer.forward(y) }
                    XCTAssertEqual(fused.historyBytes, 0, "\(what): the fused graph keeps no intermediate result")
                    XCTAssertGreaterThan(y.historyBytes, 0, "\(what): one by one keeps the intermediate results")
                    let a = try valueAndGradients(fused, x, parameters), b = try valueAndGradients(y, x, parameters)
                    for (i, (u, v)) in zip(a, b).enumerated() {
                        XCTAssertEqual(u.shape, v.shape, "\(what), oneDNN \(onednn): size \(i)")
                        XCTAssert(u.storage == v.storage, "\(what), oneDNN \(onednn): \(i == 0 ? "values" : "gradient \(i - 1)") differ")
                    }
                    // The input gradient alone (an attack's), which on oneDNN takes another path.
                    let inputOnly = try valueAndGradients(try model(x), x, [])[1]
                    XCTAssert(inputOnly.storage == b[1].storage, "\(what), oneDNN \(onednn): the input gradient alone differs")
                    fusedRuns.append(a)
                }
                // oneDNN against im2col: sums in another order, well within 1e-4 of the scale.
                for (u, v) in zip(fusedRuns[0], fusedRuns[1]) {
                    let scale = v.storage.map(abs).max() ?? 0
                    let err = zip(u.storage, v.storage).map { abs($0 - $1) }.max() ?? 0
                    XCTAssertLessThanOrEqual(err, 1e-4 * Swift.max(scale, 1e-6), "\(what): oneDNN against im2col")
                }
            }
        }
    }

    /// The fused operation's gradients against finite differences, for the input, every
    /// parameter and the residual, with oneDNN and without. A central difference across the
    /// ReLU's kink is not a derivative, so the input is the first of a seeded series whose
    /// pre-activations all lie at least 0.05 from 0: a step of 1e-3 in any one value moves none
    /// of them by more than 0.02 (it moves them by the step times a weight, an input, the batch
    /// norm's scale or a normalized value, all below 20 here).
    func testFusedGradientsAgainstFiniteDifferences() throws {
        let bn = try batchNorm(3, seed: 13)
        let (rm, rv) = (bn.runningMean, bn.runningVar)
        let w = Make.normal([3, 2, 3, 3], seed: 14, scale: 0.3), b = Make.normal([3], seed: 15)
        let residual = Make.normal([1, 3, 4, 4], seed: 16)
        let options = Conv2dOptions(padding: (1, 1))
        bn.eval()
        func nearTheKink(_ x: Tensor) throws -> Bool {
            let y = try bn.forward(try Tensor.conv2d(x, weight: w, bias: b, options: options))
            return try (y.storage + (y + residual).storage).contains { abs($0) < 0.05 }
        }
        var seed: UInt64 = 100
        while try nearTheKink(Make.awayFromZero([1, 2, 4, 4], seed: seed)) { seed += 1 }
        let x = Make.awayFromZero([1, 2, 4, 4], seed: seed)
        for onednn in [true, false] {
            OneDNN.enabled = onednn
            for (relu, withResidual) in [(false, false), (true, false), (true, true)] {
                let what = "fused conv, batch norm, residual \(withResidual), relu \(relu), oneDNN \(onednn)"
                gradCheck(what, [x, w, b, bn.weight, bn.bias, residual], step: 1e-3, tolerance: 1e-2) {
                    let norm = EvalBatchNorm(runningMean: rm, runningVar: rv, weight: $0[3], bias: $0[4], eps: 1e-5)
                    return try Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], options: options, batchNorm: norm,
                                             residual: withResidual ? $0[5] : nil, relu: relu)
                }
            }
        }
    }

    /// The end of a residual block, relu(bn(conv(x)) + identity), as `Module.runResidual` fuses
    /// it, against the operations one by one: equal to the bit, values and gradients (input,
    /// identity, weight, batch norm's parameters), with oneDNN and without.
    func testResidualEndEqualsTheOperationsOneByOne() throws {
        // A 3x3 block end, and a bottleneck's 1x1 one with channels oneDNN pads to its block.
        for (c, o, k, size) in [(4, 8, 3, 9), (16, 12, 1, 6)] {
            let conv = try Conv2d(inChannels: c, outChannels: o, kernelSize: (k, k), padding: (k / 2, k / 2), bias: false)
            let bn = try batchNorm(o, seed: 31)
            let block = Sequential([conv, bn])
            block.eval()
            let x = Make.normal([2, c, size, size], seed: 32), identity = Make.normal([2, o, size, size], seed: 33)
            x.requiresGrad = true
            identity.requiresGrad = true
            let others = [identity, conv.weight, bn.weight, bn.bias]
            for onednn in [true, false] {
                OneDNN.enabled = onednn
                let fused = try block.runResidual(("0", conv), ("1", bn), x, adding: identity)
                let y = try (bn.forward(try conv.forward(x)) + identity).relu()
                let what = "\(k)x\(k) to \(o) channels, oneDNN \(onednn)"
                XCTAssertEqual(fused.historyBytes, 0, "\(what): the fused graph keeps no intermediate result")
                let a = try valueAndGradients(fused, x, others), b = try valueAndGradients(y, x, others)
                for (i, (u, v)) in zip(a, b).enumerated() {
                    XCTAssert(u.shape == v.shape && u.storage == v.storage, "\(what): \(i == 0 ? "values" : "gradient \(i - 1)") differ")
                }
                let inputOnly = try valueAndGradients(try block.runResidual(("0", conv), ("1", bn), x, adding: identity), x, [identity])
                XCTAssert(inputOnly[1].storage == b[1].storage && inputOnly[2].storage == b[2].storage,
                          "\(what): the input and identity gradients alone differ")
            }
        }
    }

    /// Winograd's input gradient applies the fused layers' rule (ReLU's mask, the batch norm's
    /// scale) as it reads the output gradient: the same bits as the rule applied first, as the
    /// layers one by one do, with and without a residual. Small shapes, with the thresholds
    /// lowered so this path takes them; the gradients differ from the other kernels' by
    /// rounding, which shows the path ran.
    func testWinogradInputGradientOfTheFusedLayersEqualsTheLayersOneByOne() throws {
        (WinogradConvolution.minimumChannels, WinogradConvolution.minimumChannelTiles) = (1, 1)
        for (c, o, size, withBatchNorm, relu, withResidual) in [(4, 8, 9, true, true, false), (6, 12, 11, true, true, true),
                                                                  (4, 8, 9, false, true, false), (4, 8, 9, true, false, true)] {
            let conv = try Conv2d(inChannels: c, outChannels: o, kernelSize: (3, 3), padding: (1, 1), bias: false)
            let bn = try batchNorm(o, seed: 41)
            bn.eval()
            let x = Make.normal([2, c, size, size], seed: 42), identity = Make.normal([2, o, size, size], seed: 43)
            x.requiresGrad = true
            let what = "\(c) to \(o) channels, batch norm \(withBatchNorm), relu \(relu), residual \(withResidual)"
            let norm = EvalBatchNorm(runningMean: bn.runningMean, runningVar: bn.runningVar, weight: bn.weight, bias: bn.bias, eps: bn.eps)
            var inputGradients: [[Float]] = []
            for winograd in [true, false] {
                WinogradConvolution.enabled = winograd
                let fused = try Tensor.conv2d(x, weight: conv.weight, bias: nil, options: Conv2dOptions(padding: (1, 1)),
                                              batchNorm: withBatchNorm ? norm : nil, residual: withResidual ? identity : nil, relu: relu)
                var y = try conv.forward(x)
                if withBatchNorm { y = try bn.forward(y) }
                if withResidual { y = try y + identity }
                if relu { y = y.relu() }
                let a = try valueAndGradients(fused, x, [])[1], b = try valueAndGradients(y, x, [])[1]
                XCTAssert(a.storage == b.storage, "\(what), Winograd \(winograd): the input gradients differ")
                inputGradients.append(a.storage)
            }
            XCTAssert(inputGradients[0] != inputGradients[1], "\(what): Winograd's rounding, so its path ran")
        }
    }

    /// In training mode nothing is fused: batch norm normalizes with the batch's statistics and
    /// updates its running ones, as the layers one by one do.
    func testTrainingModeIsNotFused() throws {
        let conv = try Conv2d(inChannels: 2, outChannels: 4, kernelSize: (3, 3), padding: (1, 1))
        let bn = try BatchNorm2d(numFeatures: 4)
        let model = Sequential([conv, bn, ReLU()])
        let x = Make.normal([3, 2, 6, 6], seed: 21)
        let y = try model(x)
        XCTAssertNotEqual(bn.runningMean.storage, [0, 0, 0, 0], "the running mean follows the batch")
        let z = try conv.forward(x)
        let reference = try Tensor.batchNorm(z, runningMean: try Tensor.zeros([4]), runningVar: try Tensor.ones([4]), weight: bn.weight,
                                             bias: bn.bias, training: true).relu()
        XCTAssert(y.storage == reference.storage, "training mode normalizes with the batch's statistics")
    }

    /// A batch norm whose channels do not match the convolution's is not fused: its own error.
    func testMismatchedBatchNormKeepsItsError() throws {
        let model = Sequential([try Conv2d(inChannels: 1, outChannels: 4, kernelSize: (3, 3)), try BatchNorm2d(numFeatures: 5), ReLU()])
        model.eval()
        XCTAssertThrowsError(try model(Make.normal([1, 1, 5, 5], seed: 1))) { error in
            XCTAssert("\(error)".contains("BatchNorm2d"), "\(error)")
        }
    }
}
