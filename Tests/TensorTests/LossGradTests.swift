import Foundation
import Tensor
import XCTest

/// Finite-difference checks of every loss, with each reduction and option that changes the
/// gradient (class weights, ignored targets, label smoothing, positive weights, log targets).
final class LossGradTests: XCTestCase {
    let reductions: [Reduction] = [.mean, .sum, .none]

    func testCrossEntropyWeightsIgnoreAndSmoothing() {
        let logits = Make.normal([5, 4], seed: 11, scale: 2)
        let target = Make.tensor([5], [3, -100, 0, 2, 3])
        let weight = Make.tensor([4], [0.5, 2, 1, 3])
        for r in reductions {
            gradCheck("cross entropy weighted, ignored, smoothed \(r)", [logits], tolerance: 2e-3) {
                try Tensor.crossEntropy($0[0], target, weight: weight, labelSmoothing: 0.2, reduction: r)
            }
            gradCheck("cross entropy weighted \(r)", [logits], tolerance: 2e-3) {
                try Tensor.crossEntropy($0[0], Make.tensor([5], [3, 1, 0, 2, 3]), weight: weight, reduction: r)
            }
        }
    }

    func testCrossEntropyPerPixelIgnoreIndex() {
        let logits = Make.normal([2, 3, 2, 2], seed: 12, scale: 2)
        let target = Make.tensor([2, 2, 2], [0, 255, 2, 1, 255, 1, 0, 2])
        for r in reductions {
            gradCheck("cross entropy (N, C, H, W) ignore 255, smoothing \(r)", [logits], tolerance: 2e-3) {
                try Tensor.crossEntropy($0[0], target, weight: Make.tensor([3], [1, 2, 0.5]), ignoreIndex: 255,
                                        labelSmoothing: 0.1, reduction: r)
            }
        }
    }

    func testCrossEntropyProbabilitiesWeightedAndSmoothed() throws {
        let logits = Make.normal([2, 3, 2, 1], seed: 13, scale: 2)
        let target = try Make.normal([2, 3, 2, 1], seed: 14).softmax(dim: 1)
        for r in reductions {
            gradCheck("cross entropy probabilities weighted, smoothed \(r)", [logits, target], tolerance: 2e-3) {
                try Tensor.crossEntropy($0[0], $0[1], weight: Make.tensor([3], [1, 2, 3]), labelSmoothing: 0.3, reduction: r)
            }
        }
    }

    func testNLLLoss() {
        let logProbs = Make.normal([4, 3], seed: 15)
        let target = Make.tensor([4], [2, 0, -100, 1])
        for r in reductions {
            gradCheck("nll \(r)", [logProbs], tolerance: 1e-3) {
                try Tensor.nllLoss($0[0], target, weight: Make.tensor([3], [2, 1, 0.5]), reduction: r)
            }
        }
        let perPixel = Make.normal([2, 3, 2, 2], seed: 16)
        gradCheck("nll (N, C, H, W)", [perPixel], tolerance: 1e-3) {
            try Tensor.nllLoss($0[0], Make.tensor([2, 2, 2], [0, 1, 2, 0, 1, 1, 2, 2]))
        }
    }

    func testBCEWithLogits() {
        let logits = Make.normal([3, 4], seed: 17, scale: 2)
        let target = Make.uniform([3, 4], seed: 18, 0, 1)
        let weight = Make.uniform([3, 1], seed: 19, 0.5, 2)
        let posWeight = Make.uniform([4], seed: 20, 0.5, 3)
        for r in reductions {
            gradCheck("bce with logits \(r)", [logits, target], tolerance: 2e-3) {
                try Tensor.binaryCrossEntropyWithLogits($0[0], $0[1], reduction: r)
            }
            gradCheck("bce with logits, weights \(r)", [logits, target, weight, posWeight], tolerance: 2e-3) {
                try Tensor.binaryCrossEntropyWithLogits($0[0], $0[1], weight: $0[2], posWeight: $0[3], reduction: r)
            }
        }
    }

    func testLogSigmoid() {
        gradCheck("log sigmoid", [Make.normal([3, 5], seed: 21, scale: 4)], tolerance: 1e-3) { $0[0].logSigmoid() }
    }

    func testRegressionLosses() throws {
        let target = Make.normal([3, 4], seed: 22)
        let input = try target + Make.awayFromZero([3, 4], seed: 23)
        for r in reductions {
            gradCheck("mse \(r)", [input, target], tolerance: 1e-3) { try Tensor.mseLoss($0[0], $0[1], reduction: r) }
            gradCheck("l1 \(r)", [input, target], tolerance: 1e-3) { try Tensor.l1Loss($0[0], $0[1], reduction: r) }
        }
    }

    func testKLDivergence() throws {
        let input = try Make.normal([3, 4], seed: 24).logSoftmax(dim: 1)
        let target = Make.uniform([3, 4], seed: 25, 0.1, 1)
        for r in KLReduction.allCases {
            gradCheck("kl_div \(r)", [input, target], tolerance: 2e-3) { try Tensor.klDivergence($0[0], $0[1], reduction: r) }
            gradCheck("kl_div log target \(r)", [input, target.log()], tolerance: 2e-3) {
                try Tensor.klDivergence($0[0], $0[1], reduction: r, logTarget: true)
            }
        }
        // A zero target contributes nothing and passes no NaN to the input's gradient.
        let withZero = Make.tensor([1, 4], [0, 0.5, 0.25, 0.25])
        let firstRow = try input.slice(dim: 0, start: 0, end: 1).detached()
        gradCheck("kl_div zero target", [firstRow], tolerance: 2e-3) {
            try Tensor.klDivergence($0[0], withZero, reduction: .sum)
        }
    }

    func testDiceLoss() throws {
        let logits = Make.normal([2, 3, 2, 2], seed: 26, scale: 2)
        let target = Make.tensor([2, 2, 2], [0, 1, 2, 2, 1, 1, 0, 2])
        for r in reductions {
            gradCheck("dice indices \(r)", [logits], tolerance: 2e-3) { try Tensor.diceLoss($0[0], target, reduction: r) }
        }
        let soft = try Make.normal([2, 3, 2, 2], seed: 27).softmax(dim: 1)
        gradCheck("dice probabilities", [logits, soft], tolerance: 2e-3) { try Tensor.diceLoss($0[0], $0[1], smooth: 0.5) }
        gradCheck("dice (N, C)", [Make.normal([4, 3], seed: 28)], tolerance: 2e-3) {
            try Tensor.diceLoss($0[0], Make.tensor([4], [0, 2, 2, 1]), smooth: 0)
        }
    }
}
