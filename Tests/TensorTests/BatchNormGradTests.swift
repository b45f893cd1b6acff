import Tensor
import XCTest

/// Batch normalization in eval mode (running statistics) and train mode (batch statistics,
/// gradient through them, running statistics updated in place).
final class BatchNormGradTests: XCTestCase {
    let runningMean = Make.tensor([3], [0.2, -0.5, 1.0])
    let runningVar = Make.tensor([3], [0.8, 1.5, 0.3])

    func copy(_ t: Tensor) -> Tensor { try! Tensor(shape: t.shape, storage: t.storage) }

    func testEvalGradients() {
        for shape in [[2, 3, 2, 2], [4, 3], [2, 3, 5]] {
            let x = Make.normal(shape, seed: 1)
            let w = Make.normal([3], seed: 2), b = Make.normal([3], seed: 3)
            let (rm, rv) = (runningMean, runningVar)
            gradCheck("batch norm eval \(shape) weight and bias", [x, w, b], tolerance: 1e-3) {
                try Tensor.batchNorm($0[0], runningMean: rm, runningVar: rv, weight: $0[1], bias: $0[2], training: false)
            }
            gradCheck("batch norm eval \(shape) affine-free", [x], tolerance: 1e-3) {
                try Tensor.batchNorm($0[0], runningMean: rm, runningVar: rv, weight: nil, bias: nil, training: false)
            }
            gradCheck("batch norm eval \(shape) weight only", [x, w], tolerance: 1e-3) {
                try Tensor.batchNorm($0[0], runningMean: rm, runningVar: rv, weight: $0[1], bias: nil, training: false)
            }
            gradCheck("batch norm eval \(shape) bias only", [x, b], tolerance: 1e-3) {
                try Tensor.batchNorm($0[0], runningMean: rm, runningVar: rv, weight: nil, bias: $0[1], training: false)
            }
            gradCheck("batch norm eval \(shape) parameters only", [x, w, b], wrt: [1, 2], tolerance: 1e-3) {
                try Tensor.batchNorm($0[0], runningMean: rm, runningVar: rv, weight: $0[1], bias: $0[2], training: false)
            }
        }
    }

    func testEvalValues() throws {
        let x = Make.normal([2, 3, 2], seed: 4)
        let w = Make.tensor([3], [1.5, -0.5, 2]), b = Make.tensor([3], [0.1, 0.2, -0.3])
        let y = try Tensor.batchNorm(x, runningMean: runningMean, runningVar: runningVar, weight: w, bias: b, training: false, eps: 1e-3)
        var expected: [Float] = []
        for n in 0..<2 {
            for c in 0..<3 {
                for i in 0..<2 {
                    let v = x.storage[(n * 3 + c) * 2 + i]
                    expected.append((v - runningMean.storage[c]) / (runningVar.storage[c] + 1e-3).squareRoot() * w.storage[c] + b.storage[c])
                }
            }
        }
        assertValues(y, [2, 3, 2], expected, accuracy: 1e-5, "eval")
        // Eval mode leaves the running statistics alone.
        XCTAssertEqual(runningMean.storage, [0.2, -0.5, 1.0])
        XCTAssertEqual(runningVar.storage, [0.8, 1.5, 0.3])
    }

    /// The gradient must describe the forward pass that was recorded, even if the running
    /// statistics change before `grad` runs (a train-mode call on the same layer, a reload).
    func testEvalGradientUsesTheForwardStatistics() throws {
        let x = Make.normal([2, 3, 2], seed: 5)
        let w = Make.normal([3], seed: 6), b = Make.normal([3], seed: 7)
        let r = Make.normal([2, 3, 2], seed: 8)
        func gradients(changeStatisticsBeforeBackward: Bool) throws -> [Tensor] {
            let rm = copy(runningMean), rv = copy(runningVar)
            let xs = [copy(x), copy(w), copy(b)]
            for t in xs { t.requiresGrad = true }
            let y = try Tensor.batchNorm(xs[0], runningMean: rm, runningVar: rv, weight: xs[1], bias: xs[2], training: false)
            if changeStatisticsBeforeBackward {
                try rm.assign(Make.tensor([3], [5, 5, 5]))
                try rv.assign(Make.tensor([3], [9, 9, 9]))
            }
            return try grad(of: try (y * r).sum(), wrt: xs)
        }
        let before = try gradients(changeStatisticsBeforeBackward: false)
        let after = try gradients(changeStatisticsBeforeBackward: true)
        for (i, (g0, g1)) in zip(before, after).enumerated() {
            XCTAssertLessThanOrEqual(maxAbsDifference(g0, g1), 1e-6, "input \(i)")
        }
    }

    func testTrainGradients() {
        for shape in [[3, 3, 2, 2], [5, 3], [2, 3, 4]] {
            let x = Make.normal(shape, seed: 9, scale: 2, shift: 0.5)
            let w = Make.normal([3], seed: 10), b = Make.normal([3], seed: 11)
            // Fresh running statistics per call: training updates them in place.
            gradCheck("batch norm train \(shape)", [x, w, b], step: 1e-2, tolerance: 1e-3) {
                try Tensor.batchNorm($0[0], runningMean: Tensor.zeros([3]), runningVar: Tensor.ones([3]),
                                     weight: $0[1], bias: $0[2], training: true)
            }
            gradCheck("batch norm train \(shape) affine-free", [x], step: 1e-2, tolerance: 1e-3) {
                try Tensor.batchNorm($0[0], runningMean: Tensor.zeros([3]), runningVar: Tensor.ones([3]),
                                     weight: nil, bias: nil, training: true)
            }
            gradCheck("batch norm train \(shape) input only", [x, w, b], wrt: [0], step: 1e-2, tolerance: 1e-3) {
                try Tensor.batchNorm($0[0], runningMean: Tensor.zeros([3]), runningVar: Tensor.ones([3]),
                                     weight: $0[1], bias: $0[2], training: true)
            }
            gradCheck("batch norm train \(shape) parameters only", [x, w, b], wrt: [1, 2], step: 1e-2, tolerance: 1e-3) {
                try Tensor.batchNorm($0[0], runningMean: Tensor.zeros([3]), runningVar: Tensor.ones([3]),
                                     weight: $0[1], bias: $0[2], training: true)
            }
            gradCheck("batch norm train \(shape) weight only", [x, w], step: 1e-2, tolerance: 1e-3) {
                try Tensor.batchNorm($0[0], runningMean: Tensor.zeros([3]), runningVar: Tensor.ones([3]),
                                     weight: $0[1], bias: nil, training: true)
            }
        }
    }

    /// Planes longer than a SIMD width, with a remainder: values and running statistics against
    /// sums in doubles, and the gradient against finite differences.
    func testTrainOnLongPlanes() throws {
        let x = Make.normal([3, 2, 5, 7], seed: 14, scale: 3, shift: -1)
        let rm = try Tensor.zeros([2]), rv = try Tensor.ones([2])
        let y = try Tensor.batchNorm(x, runningMean: rm, runningVar: rv, weight: nil, bias: nil, training: true)
        var expected = [Float](repeating: 0, count: x.count)
        for ch in 0..<2 {
            var indices: [Int] = []
            for n in 0..<3 { indices += Array(((n * 2 + ch) * 35)..<((n * 2 + ch + 1) * 35)) }
            let values: [Double] = indices.map { Double(x.storage[$0]) }
            let mean: Double = values.reduce(0, +) / 105
            let variance: Double = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 105
            let std: Double = (variance + 1e-5).squareRoot()
            for (i, v) in zip(indices, values) { expected[i] = Float((v - mean) / std) }
            let unbiased: Double = variance * 105 / 104
            XCTAssertEqual(Double(rm.storage[ch]), 0.1 * mean, accuracy: 1e-5)
            XCTAssertEqual(Double(rv.storage[ch]), 0.9 + 0.1 * unbiased, accuracy: 1e-4)
        }
        assertValues(y, x.shape, expected, accuracy: 1e-4, "long planes")
        let w = Make.normal([2], seed: 15), b = Make.normal([2], seed: 16)
        gradCheck("batch norm train long planes", [x, w, b], step: 1e-2, tolerance: 1e-3) {
            try Tensor.batchNorm($0[0], runningMean: Tensor.zeros([2]), runningVar: Tensor.ones([2]),
                                 weight: $0[1], bias: $0[2], training: true)
        }
    }

    func testTrainValuesAndRunningStatistics() throws {
        // Channel 0 holds 1, 2, 3, 6 (mean 3, biased variance 3.5, unbiased 14/3);
        // channel 1 holds -1, 1, 0, 4 (mean 1, biased variance 3.5, unbiased 14/3).
        let x = Make.tensor([2, 2, 2], [1, 2, -1, 1, 3, 6, 0, 4])
        let rm = Make.tensor([2], [0.5, -1]), rv = Make.tensor([2], [2, 0.25])
        let w = Make.tensor([2], [2, 0.5]), b = Make.tensor([2], [1, -1])
        let eps: Float = 1e-5, momentum: Float = 0.2
        let y = try Tensor.batchNorm(x, runningMean: rm, runningVar: rv, weight: w, bias: b,
                                     training: true, momentum: momentum, eps: eps)
        let inv = 1 / (3.5 + eps).squareRoot()
        let expected: [Float] = [
            (1 - 3) * inv * 2 + 1, (2 - 3) * inv * 2 + 1,
            (-1 - 1) * inv * 0.5 - 1, (1 - 1) * inv * 0.5 - 1,
            (3 - 3) * inv * 2 + 1, (6 - 3) * inv * 2 + 1,
            (0 - 1) * inv * 0.5 - 1, (4 - 1) * inv * 0.5 - 1,
        ]
        assertValues(y, [2, 2, 2], expected, accuracy: 1e-5, "train output")
        assertValues(rm, [2], [0.8 * 0.5 + 0.2 * 3, 0.8 * -1 + 0.2 * 1], accuracy: 1e-6, "running mean")
        assertValues(rv, [2], [0.8 * 2 + 0.2 * 14 / 3, 0.8 * 0.25 + 0.2 * 14 / 3], accuracy: 1e-6, "running var")

        // A second step moves them again from the updated values.
        _ = try Tensor.batchNorm(x, runningMean: rm, runningVar: rv, weight: nil, bias: nil, training: true, momentum: momentum)
        assertValues(rm, [2], [0.8 * (0.8 * 0.5 + 0.2 * 3) + 0.2 * 3, 0.8 * (0.8 * -1 + 0.2 * 1) + 0.2 * 1], accuracy: 1e-6, "second step")

        // Normalized output: zero mean and unit (biased) variance per channel.
        let z = try Tensor.batchNorm(Make.normal([4, 3, 3, 3], seed: 12, scale: 3, shift: 2),
                                     runningMean: Tensor.zeros([3]), runningVar: Tensor.ones([3]), weight: nil, bias: nil, training: true)
        let perChannel = try z.permuted([1, 0, 2, 3]).reshaped([3, -1])
        assertValues(try perChannel.mean(dim: 1), [3], [0, 0, 0], accuracy: 1e-5, "channel means")
        assertValues(try perChannel.variance(dim: 1, unbiased: false), [3], [1, 1, 1], accuracy: 1e-4, "channel variances")

        XCTAssertThrowsError(try Tensor.batchNorm(Make.normal([1, 3], seed: 13), runningMean: Tensor.zeros([3]),
                                                  runningVar: Tensor.ones([3]), weight: nil, bias: nil, training: true))
    }
}
