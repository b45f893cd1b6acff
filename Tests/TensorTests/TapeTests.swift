import Tensor
import XCTest

/// The tape itself: what `grad` returns for odd requests, and that a graph dies with its result.
final class TapeTests: XCTestCase {
    func testUnreachableInputGetsZeros() throws {
        let x = Make.normal([2, 3], seed: 1), unused = Make.normal([4], seed: 2)
        x.requiresGrad = true; unused.requiresGrad = true
        let g = try grad(of: x.exp().sum(), wrt: [unused, x])
        assertValues(g[0], [4], [0, 0, 0, 0], accuracy: 0, "unused input")
        assertValues(g[1], [2, 3], x.exp().storage, "used input")
    }

    func testGradientOfAnIntermediateAndItsLeaf() throws {
        let x = Make.normal([3], seed: 3)
        x.requiresGrad = true
        let h = try x * 2
        let s = try (h * h).sum()
        let g = try grad(of: s, wrt: [h, x])
        assertValues(g[0], [3], h.storage.map { 2 * $0 }, "d/dh")
        assertValues(g[1], [3], h.storage.map { 4 * $0 }, "d/dx")
    }

    func testSeedReplacesTheImplicitOne() throws {
        let x = Make.normal([2, 2], seed: 4)
        x.requiresGrad = true
        let y = try x * 3
        let seed = Make.tensor([2, 2], [1, -2, 0.5, 4])
        let g = try grad(of: y, wrt: [x], seed: seed)
        assertValues(g[0], [2, 2], [3, -6, 1.5, 12], "seeded")
        XCTAssertThrowsError(try grad(of: y, wrt: [x]))
        XCTAssertThrowsError(try grad(of: y, wrt: [x], seed: Make.tensor([4], [1, 1, 1, 1])))
    }

    func testWithoutGradRecordsNothing() throws {
        let x = Make.normal([3], seed: 5)
        x.requiresGrad = true
        let y = try withoutGrad { try (x * x).sum() }
        XCTAssertFalse(y.needsGrad)
        let g = try grad(of: y, wrt: [x])
        assertValues(g[0], [3], [0, 0, 0], accuracy: 0, "no history")
        XCTAssertTrue(GradMode.isEnabled)
    }

    func testDetachedStopsGradients() throws {
        let x = Make.normal([3], seed: 6)
        x.requiresGrad = true
        let g = try grad(of: try (x * x.detached()).sum(), wrt: [x])
        assertValues(g[0], [3], x.storage, "one path")
    }

    /// Each returned gradient is its own tensor: rules pass gradients on unchanged (add, reshape),
    /// and an optimizer that updates one gradient or momentum buffer in place with `assign` must
    /// not change another parameter's gradient, or the caller's seed.
    func testReturnedGradientsAreDistinctTensors() throws {
        let a = Make.normal([2, 3], seed: 10), b = Make.normal([2, 3], seed: 11)
        a.requiresGrad = true; b.requiresGrad = true
        let y = try a + b
        let seed = Make.normal([2, 3], seed: 12), seedValues = seed.storage
        let g = try grad(of: y, wrt: [a, b, a], seed: seed)
        XCTAssertFalse(g[0] === g[1], "a and b share one gradient tensor")
        XCTAssertFalse(g[0] === g[2], "a asked twice shares one gradient tensor")
        XCTAssertFalse(g[0] === seed || g[1] === seed, "a gradient is the seed itself")
        try g[0].assign(try Tensor.zeros([2, 3]))
        assertValues(g[1], [2, 3], seedValues, accuracy: 0, "b's gradient after changing a's")
        assertValues(g[2], [2, 3], seedValues, accuracy: 0, "a's second gradient after changing the first")
        assertValues(seed, [2, 3], seedValues, accuracy: 0, "the seed after changing a gradient")
        // The output itself, asked with a seed.
        let h = try grad(of: y, wrt: [y], seed: seed)
        XCTAssertFalse(h[0] === seed, "the gradient of the output is the seed itself")
    }

    /// A small network end to end (smooth activations, so no kinks): the tape chains every rule.
    func testSmallNetworkEndToEnd() {
        let x = Make.uniform([2, 2, 6, 6], seed: 20, 0, 1)
        let w1 = Make.normal([3, 2, 3, 3], seed: 21, scale: 0.4), b1 = Make.normal([3], seed: 22, scale: 0.1)
        let gamma = Make.uniform([3], seed: 23, 0.5, 1.5), beta = Make.normal([3], seed: 24, scale: 0.1)
        let w2 = Make.normal([4, 27], seed: 25, scale: 0.3), b2 = Make.normal([4], seed: 26, scale: 0.1)
        let target = Make.tensor([2], [1, 3])
        let network: ([Tensor]) throws -> Tensor = { v in
            var h = try Tensor.conv2d(v[0], weight: v[1], bias: v[2], options: Conv2dOptions(stride: (1, 1), padding: (1, 1)))
            h = try Tensor.batchNorm(h, runningMean: Tensor.zeros([3]), runningVar: Tensor.ones([3]),
                                     weight: v[3], bias: v[4], training: true)
            h = try Tensor.avgPool2d(h.tanh(), Pool2dOptions(kernel: (2, 2))).flattened()
            let logits = try Tensor.linear(h, weight: v[5], bias: v[6])
            return try Tensor.crossEntropy(logits, target)
        }
        // The convolution's bias has gradient 0 (batch norm subtracts the batch mean): finite
        // differences there see only float32 rounding, so it is checked to vanish instead.
        gradCheck("network", [x, w1, b1, gamma, beta, w2, b2], wrt: [0, 1, 3, 4, 5, 6], step: 1e-2, tolerance: 1e-3, network)
        do {
            let leaves = try [x, w1, b1, gamma, beta, w2, b2].map { t -> Tensor in
                let leaf = try Tensor(shape: t.shape, storage: t.storage)
                leaf.requiresGrad = true
                return leaf
            }
            let biasGradient = try grad(of: network(leaves), wrt: [leaves[2]])[0]
            // Sums of 72 terms of about 1e-2 that cancel: float32 leaves about 1e-8 of each.
            XCTAssertLessThanOrEqual(biasGradient.storage.map(abs).max() ?? 0, 1e-6, "bias before training batch norm")
        } catch {
            XCTFail("network: \(error)")
        }
    }

    /// A result must not keep itself alive through its own gradient rule: the graph is freed
    /// when the last result referring to it goes, or every step of an attack loop leaks.
    func testGraphsAreReleasedWithTheirResult() throws {
        let x0 = Make.uniform([1, 2, 4, 4], seed: 7, 0.2, 1)
        let w0 = Make.normal([3, 2, 3, 3], seed: 8)
        let ops: [(String, (Tensor) throws -> Tensor)] = [
            ("add", { try $0 + $0 }),
            ("mul", { try $0 * 2 }),
            ("neg", { -$0 }),
            ("abs", { $0.abs() }),
            ("exp", { $0.exp() }),
            ("log", { $0.log() }),
            ("sqrt", { $0.sqrt() }),
            ("pow", { try $0.pow(Tensor(scalar: 2)) }),
            ("relu", { $0.relu() }),
            ("leaky relu", { $0.leakyRelu(0.1) }),
            ("sigmoid", { $0.sigmoid() }),
            ("tanh", { $0.tanh() }),
            ("clamp", { try $0.clamp(min: 0.3, max: 0.7) }),
            ("maximum", { try $0.maximum(Tensor(scalar: 0.5)) }),
            ("where", { try Tensor.select(where: Tensor(scalar: 1), $0, $0) }),
            ("sum", { $0.sum() }),
            ("sum dim", { try $0.sum(dim: 1) }),
            ("variance", { try $0.variance(dim: 3) }),
            ("max", { try $0.max() }),
            ("max dim", { try $0.max(dim: 2).values }),
            ("norm", { try $0.normPerSample(p: 2) }),
            ("reshape", { try $0.reshaped([-1]) }),
            ("permute", { try $0.permuted([3, 2, 1, 0]) }),
            ("slice", { try $0.slice(dim: 2, start: 1, end: 4, step: 2) }),
            ("index", { try $0.indexSelect(dim: 3, indices: Make.tensor([2], [0, 0])) }),
            ("cat", { try Tensor.cat([$0, $0], dim: 1) }),
            ("pad", { try $0.padded([(1, 1)]) }),
            ("matmul", { try $0.matmul($0) }),
            ("linear", { try Tensor.linear($0.reshaped([2, 16]), weight: Make.normal([3, 16], seed: 9), bias: nil) }),
            ("conv2d", { try Tensor.conv2d($0, weight: w0, bias: nil) }),
            ("max pool", { try Tensor.maxPool2d($0, Pool2dOptions(kernel: (2, 2))) }),
            ("avg pool", { try Tensor.avgPool2d($0, Pool2dOptions(kernel: (2, 2))) }),
            ("adaptive pool", { try Tensor.adaptiveAvgPool2d($0, outputSize: (3, 3)) }),
            ("batch norm", { try Tensor.batchNorm($0, runningMean: Tensor.zeros([2]), runningVar: Tensor.ones([2]),
                                                  weight: nil, bias: nil, training: true) }),
            ("softmax", { try $0.softmax(dim: 1) }),
            ("log softmax", { try $0.logSoftmax(dim: 1) }),
            ("cross entropy", { try Tensor.crossEntropy($0, Make.tensor([1, 4, 4], [Float](repeating: 1, count: 16))) }),
            ("gaussian blur", { try Tensor.gaussianBlur($0, size: 3, sigma: 1) }),
        ]
        for (name, op) in ops {
            weak var weakResult: Tensor?
            weak var weakInput: Tensor?
            try {
                let x = try Tensor(shape: x0.shape, storage: x0.storage)
                x.requiresGrad = true
                let y = try op(x)
                weakResult = y
                weakInput = x
                _ = try grad(of: y.sum(), wrt: [x])
            }()
            XCTAssertNil(weakResult, "\(name): the result outlives its last reference")
            XCTAssertNil(weakInput, "\(name): the input outlives the graph")
        }
    }
}
