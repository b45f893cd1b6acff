import Foundation
import Tensor
import XCTest

/// Loss values against PyTorch's formulas, computed here in Double from the definitions.
final class LossValueTests: XCTestCase {
    let logits: [[Double]] = [[1, 2, 3], [0.5, -1, 0], [0, 0, 2]]
    var logitsTensor: Tensor { Make.tensor([3, 3], logits.flatMap { $0.map(Float.init) }) }

    func logSoftmax(_ row: [Double]) -> [Double] {
        let lse = log(row.map(exp).reduce(0, +))
        return row.map { $0 - lse }
    }

    func testCrossEntropyClassWeightsAndIgnoreIndex() throws {
        // PyTorch: loss_n = -w[y_n] log p[n, y_n], 0 where ignored; the mean divides by Σ w[y_n].
        let w: [Double] = [1, 2, 3]
        let target = Make.tensor([3], [2, -100, 0])
        let weight = Make.tensor([3], w.map(Float.init))
        let l0 = -w[2] * logSoftmax(logits[0])[2], l2 = -w[0] * logSoftmax(logits[2])[0]
        assertValues(try Tensor.crossEntropy(logitsTensor, target, weight: weight, reduction: .none), [3],
                     [Float(l0), 0, Float(l2)], accuracy: 1e-6, "none")
        assertValues(try Tensor.crossEntropy(logitsTensor, target, weight: weight, reduction: .sum), [],
                     [Float(l0 + l2)], accuracy: 1e-6, "sum")
        assertValues(try Tensor.crossEntropy(logitsTensor, target, weight: weight), [], [Float((l0 + l2) / (3 + 1))],
                     accuracy: 1e-6, "mean over the weights of the targets kept")
        // Without weights the mean counts the targets kept.
        let u0 = -logSoftmax(logits[0])[2], u2 = -logSoftmax(logits[2])[0]
        assertValues(try Tensor.crossEntropy(logitsTensor, target), [], [Float((u0 + u2) / 2)], accuracy: 1e-6, "unweighted mean")
        // Another ignored index; -100 is then an error.
        let t255 = Make.tensor([3], [2, 255, 0])
        assertValues(try Tensor.crossEntropy(logitsTensor, t255, ignoreIndex: 255), [], [Float((u0 + u2) / 2)], accuracy: 1e-6, "255")
        XCTAssertThrowsError(try Tensor.crossEntropy(logitsTensor, target, ignoreIndex: 255))
        // Everything ignored: 0/0, as PyTorch.
        XCTAssertTrue(try Tensor.crossEntropy(logitsTensor, Make.tensor([3], [-100, -100, -100])).item().isNaN)
        XCTAssertThrowsError(try Tensor.crossEntropy(logitsTensor, target, weight: Make.tensor([2], [1, 1])))
    }

    func testCrossEntropyLabelSmoothing() throws {
        // (1 - ε)·nll + ε/C·Σ_c -w_c log p_c, ignored rows 0, with nll's denominator.
        let eps = 0.2, w: [Double] = [1, 2, 3]
        let target = Make.tensor([3], [2, -100, 0])
        func smooth(_ n: Int) -> Double { -zip(w, logSoftmax(logits[n])).map { $0 * $1 }.reduce(0, +) }
        let l0 = (1 - eps) * -w[2] * logSoftmax(logits[0])[2] + eps / 3 * smooth(0)
        let l2 = (1 - eps) * -w[0] * logSoftmax(logits[2])[0] + eps / 3 * smooth(2)
        let weight = Make.tensor([3], w.map(Float.init))
        assertValues(try Tensor.crossEntropy(logitsTensor, target, weight: weight, labelSmoothing: Float(eps), reduction: .none),
                     [3], [Float(l0), 0, Float(l2)], accuracy: 1e-6, "none")
        assertValues(try Tensor.crossEntropy(logitsTensor, target, weight: weight, labelSmoothing: Float(eps)), [],
                     [Float((l0 + l2) / 4)], accuracy: 1e-6, "mean")
        // Unweighted, nothing ignored: the target mixed with the uniform distribution.
        let t = Make.tensor([3], [2, 1, 0])
        let expected = (0..<3).map { n -> Double in
            let lp = logSoftmax(logits[n])
            let y = [2, 1, 0][n]
            return (0..<3).map { c in -((c == y ? 1 - eps : 0) + eps / 3) * lp[c] }.reduce(0, +)
        }
        assertValues(try Tensor.crossEntropy(logitsTensor, t, labelSmoothing: Float(eps)), [],
                     [Float(expected.reduce(0, +) / 3)], accuracy: 1e-6, "uniform mix")
        XCTAssertThrowsError(try Tensor.crossEntropy(logitsTensor, t, labelSmoothing: 1.5))
    }

    func testCrossEntropyProbabilityTargets() throws {
        // -Σ_c w_c (p_c (1 - ε) + ε/C) log q_c; the mean divides by N whatever the weights.
        let p: [[Double]] = [[0.2, 0.3, 0.5], [1, 0, 0], [0, 0.5, 0.5]]
        let w: [Double] = [2, 1, 0.5], eps = 0.1
        let rows = (0..<3).map { n in
            (0..<3).map { c in -w[c] * (p[n][c] * (1 - eps) + eps / 3) * logSoftmax(logits[n])[c] }.reduce(0, +)
        }
        let target = Make.tensor([3, 3], p.flatMap { $0.map(Float.init) })
        let weight = Make.tensor([3], w.map(Float.init))
        assertValues(try Tensor.crossEntropy(logitsTensor, target, weight: weight, labelSmoothing: Float(eps), reduction: .none),
                     [3], rows.map(Float.init), accuracy: 1e-6, "none")
        assertValues(try Tensor.crossEntropy(logitsTensor, target, weight: weight, labelSmoothing: Float(eps)), [],
                     [Float(rows.reduce(0, +) / 3)], accuracy: 1e-6, "mean")
        XCTAssertThrowsError(try Tensor.crossEntropy(logitsTensor, target, ignoreIndex: 0))
    }

    func testCrossEntropyPerPixelWeights() throws {
        // (1, 2, 1, 3): pixels (0, 1), (2, 0), (1, 1) with targets 1, 255 (ignored), 0; weights (3, 1).
        let logits = Make.tensor([1, 2, 1, 3], [0, 2, 1, 1, 0, 1])
        let target = Make.tensor([1, 1, 3], [1, 255, 0])
        let weight = Make.tensor([2], [3, 1])
        let a = -logSoftmax([0, 1])[1] * 1, c = -logSoftmax([1, 1])[0] * 3
        assertValues(try Tensor.crossEntropy(logits, target, weight: weight, ignoreIndex: 255, reduction: .none), [1, 1, 3],
                     [Float(a), 0, Float(c)], accuracy: 1e-6, "none")
        assertValues(try Tensor.crossEntropy(logits, target, weight: weight, ignoreIndex: 255), [], [Float((a + c) / 4)],
                     accuracy: 1e-6, "mean")
    }

    func testNLLLoss() throws {
        let x = Make.tensor([2, 3], [-1, -2, -0.5, -3, -0.1, -2])
        let target = Make.tensor([2], [2, 1])
        assertValues(try Tensor.nllLoss(x, target, reduction: .none), [2], [0.5, 0.1], "none")
        assertValues(try Tensor.nllLoss(x, target), [], [0.3], "mean")
        assertValues(try Tensor.nllLoss(x, target, weight: Make.tensor([3], [1, 4, 2])), [], [Float((2 * 0.5 + 4 * 0.1) / 6)], "weighted mean")
        assertValues(try Tensor.nllLoss(x, Make.tensor([2], [2, -100]), reduction: .sum), [], [0.5], "ignored")
        XCTAssertThrowsError(try Tensor.nllLoss(x, Make.tensor([2], [3, 0])))
        XCTAssertThrowsError(try Tensor.nllLoss(Make.tensor([3], [1, 2, 3]), Make.tensor([], [0])))
    }

    func testBCEWithLogits() throws {
        let x: [Double] = [-100, -1, 0, 2, 50], y: [Double] = [0, 1, 0.5, 1, 0], w: [Double] = [1, 2, 1, 0.5, 1]
        func logSigmoid(_ v: Double) -> Double { v >= 0 ? -log1p(exp(-v)) : v - log1p(exp(v)) }
        let pw = 3.0
        // -(pw·y·log σ(x) + (1 - y)·log(1 - σ(x))), log(1 - σ(x)) = log σ(-x).
        let plain = (0..<5).map { i in -(y[i] * logSigmoid(x[i]) + (1 - y[i]) * logSigmoid(-x[i])) }
        let weighted = (0..<5).map { i in -w[i] * (pw * y[i] * logSigmoid(x[i]) + (1 - y[i]) * logSigmoid(-x[i])) }
        let xt = Make.tensor([5], x.map(Float.init)), yt = Make.tensor([5], y.map(Float.init))
        assertValues(try Tensor.binaryCrossEntropyWithLogits(xt, yt, reduction: .none), [5], plain.map(Float.init), "none")
        assertValues(try Tensor.binaryCrossEntropyWithLogits(xt, yt), [], [Float(plain.reduce(0, +) / 5)], "mean")
        assertValues(try Tensor.binaryCrossEntropyWithLogits(xt, yt, weight: Make.tensor([5], w.map(Float.init)),
                                                            posWeight: Make.tensor([], [Float(pw)]), reduction: .sum),
                     [], [Float(weighted.reduce(0, +))], "weighted sum")
        XCTAssertEqual(plain[4], 50, accuracy: 1e-9, "a confident wrong logit costs its size, not infinity")
        XCTAssertThrowsError(try Tensor.binaryCrossEntropyWithLogits(xt, Make.tensor([1, 5], y.map(Float.init))))
        XCTAssertThrowsError(try Tensor.binaryCrossEntropyWithLogits(xt, yt, weight: Make.tensor([2, 5], [Float](repeating: 1, count: 10))))
    }

    func testLogSigmoidIsStable() {
        assertValues(Make.tensor([4], [100, -100, 0, 1]).logSigmoid(), [4],
                     [0, -100, Float(-log(2.0)), Float(-log1p(exp(-1.0)))], accuracy: 1e-6, "log sigmoid")
    }

    func testRegressionLosses() throws {
        let a = Make.tensor([2, 2], [1, 2, 3, 4]), b = Make.tensor([2, 2], [1, 4, 0, 4.5])
        assertValues(try Tensor.mseLoss(a, b, reduction: .none), [2, 2], [0, 4, 9, 0.25], "mse none")
        assertValues(try Tensor.mseLoss(a, b), [], [13.25 / 4], "mse mean")
        assertValues(try Tensor.l1Loss(a, b, reduction: .sum), [], [5.5], "l1 sum")
        assertValues(try Tensor.l1Loss(a, b), [], [5.5 / 4], "l1 mean")
        XCTAssertThrowsError(try Tensor.mseLoss(a, Make.tensor([2], [1, 2])), "no silent broadcasting")
    }

    func testKLDivergence() throws {
        let q: [Double] = [0.25, 0.25, 0.5, 0.1, 0.6, 0.3], p: [Double] = [0.5, 0.5, 0, 0.2, 0.2, 0.6]
        let input = Make.tensor([2, 3], q.map { Float(log($0)) }), target = Make.tensor([2, 3], p.map(Float.init))
        let pointwise = zip(p, q).map { p, q in p > 0 ? p * (log(p) - log(q)) : 0 }
        let total = pointwise.reduce(0, +)
        assertValues(try Tensor.klDivergence(input, target, reduction: .none), [2, 3], pointwise.map(Float.init), "none")
        assertValues(try Tensor.klDivergence(input, target, reduction: .sum), [], [Float(total)], "sum")
        assertValues(try Tensor.klDivergence(input, target, reduction: .batchmean), [], [Float(total / 2)], "batchmean")
        assertValues(try Tensor.klDivergence(input, target), [], [Float(total / 6)], "mean over elements")
        let logTarget = Make.tensor([2, 3], p.map { Float(log(max($0, 1e-30))) })
        assertValues(try Tensor.klDivergence(input, logTarget, reduction: .batchmean, logTarget: true), [], [Float(total / 2)],
                     accuracy: 1e-5, "log target")
        XCTAssertThrowsError(try Tensor.klDivergence(input, Make.tensor([3], [1, 0, 0])))
    }

    func testDiceLoss() throws {
        // Pixel 0: logits (0, ln 3) → p = (1/4, 3/4), class 1; pixel 1: (0, 0) → (1/2, 1/2), class 0.
        let logits = Make.tensor([1, 2, 1, 2], [0, 0, Float(log(3.0)), 0])
        let target = Make.tensor([1, 1, 2], [1, 0])
        func dice(_ inter: Double, _ sumP: Double, _ sumT: Double, _ s: Double) -> Double { 1 - (2 * inter + s) / (sumP + sumT + s) }
        let c0 = dice(0.5, 0.75, 1, 1), c1 = dice(0.75, 1.25, 1, 1)
        assertValues(try Tensor.diceLoss(logits, target, reduction: .none), [2], [Float(c0), Float(c1)], "none")
        assertValues(try Tensor.diceLoss(logits, target), [], [Float((c0 + c1) / 2)], "mean")
        assertValues(try Tensor.diceLoss(logits, target, smooth: 0, reduction: .sum), [],
                     [Float(dice(0.5, 0.75, 1, 0) + dice(0.75, 1.25, 1, 0))], "sum, no smoothing")
        // Probability targets equal to one-hot give the same loss.
        let oneHot = Make.tensor([1, 2, 1, 2], [0, 1, 1, 0])
        assertValues(try Tensor.diceLoss(logits, oneHot), [], [Float((c0 + c1) / 2)], "one-hot probabilities")
        XCTAssertThrowsError(try Tensor.diceLoss(logits, Make.tensor([1, 1, 2], [2, 0])))
        XCTAssertThrowsError(try Tensor.diceLoss(logits, target, smooth: -1))
    }

    func testFlip() throws {
        let t = Make.tensor([2, 3], [0, 1, 2, 3, 4, 5])
        assertValues(try t.flipped(dim: 1), [2, 3], [2, 1, 0, 5, 4, 3], "last dimension")
        assertValues(try t.flipped(dim: 0), [2, 3], [3, 4, 5, 0, 1, 2], "first dimension")
        assertValues(try t.flipped(dim: -1).flipped(dim: -1), [2, 3], t.storage, "twice is the identity")
        XCTAssertThrowsError(try t.flipped(dim: 2))
        gradCheck("flip", [Make.normal([2, 3, 4], seed: 30)]) { try $0[0].flipped(dim: 1) }
    }
}
