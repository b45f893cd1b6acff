import Foundation
import Tensor
import XCTest

/// Cross-entropy with class indices and with probabilities, per sample and per pixel.
final class CrossEntropyGradTests: XCTestCase {
    let reductions: [Reduction] = [.mean, .sum, .none]

    func testClassIndices() {
        let logits = Make.normal([4, 5], seed: 1, scale: 2)
        let target = Make.tensor([4], [3, 0, 4, 3])
        for r in reductions {
            gradCheck("cross entropy (N, C) \(r)", [logits], tolerance: 2e-3) { try Tensor.crossEntropy($0[0], target, reduction: r) }
        }
    }

    func testClassIndicesPerPixel() {
        let logits = Make.normal([2, 3, 2, 3], seed: 2, scale: 2)
        let target = Make.tensor([2, 2, 3], [0, 1, 2, 2, 1, 0, 1, 1, 0, 2, 0, 2])
        for r in reductions {
            gradCheck("cross entropy (N, C, H, W) \(r)", [logits], tolerance: 2e-3) { try Tensor.crossEntropy($0[0], target, reduction: r) }
        }
    }

    func testProbabilityTargets() throws {
        let logits = Make.normal([3, 4], seed: 3, scale: 2)
        let target = try Make.normal([3, 4], seed: 4).softmax(dim: 1)
        for r in reductions {
            gradCheck("cross entropy probabilities (N, C) \(r)", [logits, target], tolerance: 2e-3) {
                try Tensor.crossEntropy($0[0], $0[1], reduction: r)
            }
        }
        let logits4 = Make.normal([2, 3, 2, 2], seed: 5, scale: 2)
        let target4 = try Make.normal([2, 3, 2, 2], seed: 6).softmax(dim: 1)
        for r in reductions {
            gradCheck("cross entropy probabilities (N, C, H, W) \(r)", [logits4, target4], tolerance: 2e-3) {
                try Tensor.crossEntropy($0[0], $0[1], reduction: r)
            }
        }
    }

    func testValues() throws {
        // -log softmax(logits)[target], by hand.
        let logits = Make.tensor([2, 3], [1, 2, 3, 0.5, -1, 0])
        func nll(_ row: [Double], _ k: Int) -> Double { log(row.map(exp).reduce(0, +)) - row[k] }
        let l0 = nll([1, 2, 3], 2), l1 = nll([0.5, -1, 0], 0)
        let target = Make.tensor([2], [2, 0])
        assertValues(try Tensor.crossEntropy(logits, target, reduction: .none), [2], [Float(l0), Float(l1)], accuracy: 1e-6, "none")
        assertValues(try Tensor.crossEntropy(logits, target, reduction: .sum), [], [Float(l0 + l1)], accuracy: 1e-6, "sum")
        assertValues(try Tensor.crossEntropy(logits, target), [], [Float((l0 + l1) / 2)], accuracy: 1e-6, "mean")

        // One-hot probabilities give the same losses as indices.
        let oneHot = Make.tensor([2, 3], [0, 0, 1, 1, 0, 0])
        assertValues(try Tensor.crossEntropy(logits, oneHot, reduction: .none), [2], [Float(l0), Float(l1)], accuracy: 1e-6, "one-hot")
        // Soft targets: -sum p log q.
        let soft = Make.tensor([2, 3], [0.25, 0.25, 0.5, 0, 0.5, 0.5])
        let s0 = 0.25 * nll([1, 2, 3], 0) + 0.25 * nll([1, 2, 3], 1) + 0.5 * nll([1, 2, 3], 2)
        let s1 = 0.5 * nll([0.5, -1, 0], 1) + 0.5 * nll([0.5, -1, 0], 2)
        assertValues(try Tensor.crossEntropy(logits, soft), [], [Float((s0 + s1) / 2)], accuracy: 1e-6, "soft mean")

        // Per pixel: the mean runs over batch and pixels. (1, 2, 1, 2): pixel 0 logits (0, 1), pixel 1 (2, 0).
        let pixels = Make.tensor([1, 2, 1, 2], [0, 2, 1, 0])
        let pt = Make.tensor([1, 1, 2], [1, 1])
        let p0 = nll([0, 1], 1), p1 = nll([2, 0], 1)
        assertValues(try Tensor.crossEntropy(pixels, pt, reduction: .none), [1, 1, 2], [Float(p0), Float(p1)], accuracy: 1e-6, "pixels none")
        assertValues(try Tensor.crossEntropy(pixels, pt), [], [Float((p0 + p1) / 2)], accuracy: 1e-6, "pixels mean")

        // The gradient of the mean loss is (softmax - onehot) / N.
        logits.requiresGrad = true
        let g = try grad(of: try Tensor.crossEntropy(logits, target), wrt: [logits])[0]
        let p = try withoutGrad { try logits.softmax(dim: 1) }
        assertValues(g, [2, 3], zip(p.storage, oneHot.storage).map { ($0 - $1) / 2 }, accuracy: 1e-6, "gradient")

        XCTAssertThrowsError(try Tensor.crossEntropy(logits, Make.tensor([2], [0, 3])))
        XCTAssertThrowsError(try Tensor.crossEntropy(logits, Make.tensor([2], [0, 0.5])))
        XCTAssertThrowsError(try Tensor.crossEntropy(logits, Make.tensor([3], [0, 1, 2])))
    }
}
