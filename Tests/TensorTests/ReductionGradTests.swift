import Foundation
import Tensor
import XCTest

/// sum, mean, variance, max/min, per-sample norms.
final class ReductionGradTests: XCTestCase {
    func testSumAndMean() {
        let x = Make.normal([2, 3, 4], seed: 1)
        gradCheck("sum", [x], tolerance: 1e-3) { $0[0].sum() }
        gradCheck("mean", [x], tolerance: 1e-3) { try $0[0].mean() }
        for dim in [0, 1, 2, -1] {
            for keep in [false, true] {
                gradCheck("sum dim \(dim) keep \(keep)", [x], tolerance: 1e-3) { try $0[0].sum(dim: dim, keepDim: keep) }
                gradCheck("mean dim \(dim) keep \(keep)", [x], tolerance: 1e-3) { try $0[0].mean(dim: dim, keepDim: keep) }
            }
        }
        let s = Make.tensor([], [1.5])
        gradCheck("sum dim of a scalar", [s], tolerance: 1e-3) { try $0[0].sum(dim: 0) }
    }

    func testSumValuesAndShapes() throws {
        let x = Make.tensor([2, 3], [1, 2, 3, 4, 5, 6])
        assertValues(x.sum(), [], [21], "sum")
        assertValues(try x.sum(dim: 0), [3], [5, 7, 9], "sum dim 0")
        assertValues(try x.sum(dim: 1, keepDim: true), [2, 1], [6, 15], "sum dim 1 keep")
        assertValues(try x.mean(dim: -1), [2], [2, 5], "mean dim -1")
        assertValues(try x.mean(), [], [3.5], "mean")
    }

    /// Sums along a dimension on large inputs, where the cores share the work: along the last
    /// dimension each row is a lane sum in doubles (as exact as a running double sum); along
    /// another each output adds its planes in order, so it equals a plain loop to the bit, also
    /// where a core's piece of the outputs starts or ends inside a row.
    func testSumsAlongADimensionOfLargeInputs() throws {
        let rows = Make.normal([5, 70_001], seed: 11, scale: 10)
        let rowSums = try rows.sum(dim: 1)
        for a in 0..<5 {
            let reference = (0..<70_001).reduce(0.0) { $0 + Double(rows.storage[a * 70_001 + $1]) }
            XCTAssertEqual(Double(rowSums.storage[a]), reference, accuracy: 1e-6 * max(1, abs(reference)), "row \(a)")
        }
        for shape in [[3, 5, 70_001], [1, 9, 300_007]] {
            let x = Make.normal(shape, seed: 12, scale: 3)
            let (outer, n, inner) = (shape[0], shape[1], shape[2])
            var expected = [Float](repeating: 0, count: outer * inner)
            for a in 0..<outer {
                for k in 0..<n {
                    for i in 0..<inner { expected[a * inner + i] += x.storage[(a * n + k) * inner + i] }
                }
            }
            let sums = try x.sum(dim: 1)
            XCTAssertEqual(sums.shape, [outer, inner])
            let firstDifference = sums.storage.indices.first { sums.storage[$0] != expected[$0] }
            XCTAssertNil(firstDifference, "\(shape): output \(firstDifference ?? 0) differs from a plain loop")
        }
    }

    /// The sum of all values runs in blocks and SIMD lanes: it must still equal a running
    /// double sum, not overflow where the double does not, and propagate NaN.
    func testLongSumsAsInDoubles() throws {
        for n in [7, 8, 1023, 1024, 1025, 5000 + 3] {
            let x = Make.normal([n], seed: UInt64(n), scale: 10)
            let reference = x.storage.reduce(0.0) { $0 + Double($1) }
            XCTAssertEqual(Double(x.sum().storage[0]), reference, accuracy: 1e-5 * max(1, abs(reference)), "n = \(n)")
        }
        // Floats near the largest: partial sums in floats would overflow to infinity.
        let big = Make.tensor([4096], (0..<4096).map { $0 % 16 < 8 ? 3e38 : -3e38 })
        XCTAssertEqual(big.sum().storage[0], 0)
        var withNaN = [Float](repeating: 1, count: 3000)
        withNaN[2500] = .nan
        XCTAssertTrue(Make.tensor([3000], withNaN).sum().storage[0].isNaN)
    }

    func testVariance() throws {
        let x = Make.normal([3, 4], seed: 2)
        for unbiased in [true, false] {
            gradCheck("variance all unbiased \(unbiased)", [x], tolerance: 2e-3) { try $0[0].variance(unbiased: unbiased) }
            for dim in [0, 1] {
                for keep in [false, true] {
                    gradCheck("variance dim \(dim) unbiased \(unbiased) keep \(keep)", [x], tolerance: 2e-3) {
                        try $0[0].variance(dim: dim, unbiased: unbiased, keepDim: keep)
                    }
                }
            }
        }
        // By hand: values 1, 2, 3, 6 have mean 3 and squared deviations 4, 1, 0, 9.
        let v = Make.tensor([2, 4], [1, 2, 3, 6, 2, 2, 2, 2])
        assertValues(try v.variance(dim: 1), [2], [14.0 / 3, 0], "unbiased")
        assertValues(try v.variance(dim: 1, unbiased: false, keepDim: true), [2, 1], [3.5, 0], "biased")
        assertValues(try v.variance(), [], [16.0 / 7], "all values")  // mean 2.5, squared deviations sum to 16
    }

    func testMaxMinAll() throws {
        let x = Make.distinct([3, 5], seed: 3)
        gradCheck("max", [x], tolerance: 1e-3) { try $0[0].max() }
        gradCheck("min", [x], tolerance: 1e-3) { try $0[0].min() }
        let v = Make.tensor([2, 2], [3, -1, 7, 0])
        assertValues(try v.max(), [], [7], "max")
        assertValues(try v.min(), [], [-1], "min")
    }

    func testMaxMinAlongDim() throws {
        let x = Make.distinct([2, 3, 4], seed: 4)
        for dim in [0, 1, 2, -2] {
            for keep in [false, true] {
                gradCheck("max dim \(dim) keep \(keep)", [x], tolerance: 1e-3) { try $0[0].max(dim: dim, keepDim: keep).values }
                gradCheck("min dim \(dim) keep \(keep)", [x], tolerance: 1e-3) { try $0[0].min(dim: dim, keepDim: keep).values }
            }
        }
        let v = Make.tensor([2, 3], [3, -1, 7, 0, 5, -2])
        let mx = try v.max(dim: 1)
        assertValues(mx.values, [2], [7, 5], "max values")
        assertValues(mx.indices, [2], [2, 1], accuracy: 0, "max indices")
        let mn = try v.min(dim: 0, keepDim: true)
        assertValues(mn.values, [1, 3], [0, -1, -2], "min values")
        assertValues(mn.indices, [1, 3], [1, 0, 1], accuracy: 0, "min indices")
        assertValues(try v.argmax(dim: nil), [], [2], accuracy: 0, "argmax")
    }

    func testNormPerSample() throws {
        let away = Make.awayFromZero([3, 2, 4], seed: 5)
        gradCheck("norm p=1", [away], tolerance: 1e-3) { try $0[0].normPerSample(p: 1) }
        gradCheck("norm p=2", [away], tolerance: 2e-3) { try $0[0].normPerSample(p: 2) }
        gradCheck("norm p=3", [away], tolerance: 2e-3) { try $0[0].normPerSample(p: 3) }
        // The largest magnitude must win clearly: distinct values, none near zero.
        let distinct = try Make.distinct([3, 2, 4], seed: 6, spacing: 0.1).abs() + 0.05
        let signs = Make.signedMagnitude([3, 2, 4], seed: 7, 1, 1)
        gradCheck("norm p=inf", [try distinct * signs], tolerance: 1e-3) { try $0[0].normPerSample(p: .infinity) }

        // A sample of zeros: PyTorch's subgradient is 0 there, not NaN (an L2 penalty on a
        // perturbation that starts at zero must not poison the attack).
        let withZero = Make.tensor([2, 3], [0, 0, 0, 1, -2, 2])
        withZero.requiresGrad = true
        for p: Float in [1, 2, 3, .infinity] {
            let norms = try withZero.normPerSample(p: p)
            XCTAssertEqual(norms.storage[0], 0, "p=\(p): norm of zeros")
            let g = try grad(of: norms.sum(), wrt: [withZero])[0]
            XCTAssertFalse(g.hasNonFinite, "p=\(p): gradient at a zero sample is \(g.storage)")
            XCTAssertEqual(Array(g.storage[0..<3]), [0, 0, 0], "p=\(p): gradient at a zero sample")
        }
        gradCheck("norm p=2 with a zero sample elsewhere", [Make.tensor([2, 3], [0, 0, 0, 1, -2, 2])], wrt: [0], tolerance: 2e-3) { v in
            // Only the non-zero sample is perturbed enough to matter: check its part.
            try v[0].slice(dim: 0, start: 1, end: 2).normPerSample(p: 2)
        }

        let v = Make.tensor([2, 3], [3, -4, 0, 1, -2, 2])
        assertValues(try v.normPerSample(p: 1), [2], [7, 5], "p=1")
        assertValues(try v.normPerSample(p: 2), [2], [5, 3], "p=2")
        assertValues(try v.normPerSample(p: .infinity), [2], [4, 2], "p=inf")
        assertValues(try v.normPerSample(p: 3), [2], [Float(pow(91.0, 1.0 / 3)), Float(pow(17.0, 1.0 / 3))], "p=3")
    }
}
