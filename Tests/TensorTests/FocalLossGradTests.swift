import Foundation
import Tensor
import XCTest

/// CenterNet's penalty-reduced focal loss: values from its formula, gradients by finite
/// differences, and the reductions.
final class FocalLossGradTests: XCTestCase {
    /// Targets with exact positives (1), near-centre values and background (0).
    let target = Make.tensor([1, 2, 2, 3], [1, 0.8, 0.2, 0, 0, 0.5, 0.9, 1, 0.3, 0, 0.05, 0])

    func testValues() throws {
        let z = Make.normal([1, 2, 2, 3], seed: 7, scale: 2)
        let loss = try Tensor.focalLoss(z, target, reduction: .none)
        for i in 0..<z.count {
            let p = 1 / (1 + exp(-Double(z.storage[i]))), t = Double(target.storage[i])
            let expected = t == 1 ? -pow(1 - p, 2) * log(p) : -pow(1 - t, 4) * pow(p, 2) * log(1 - p)
            XCTAssertEqual(Double(loss.storage[i]), expected, accuracy: 1e-6 * max(1, abs(expected)), "position \(i)")
        }
        let sum = loss.storage.reduce(0, +)
        XCTAssertEqual(try Tensor.focalLoss(z, target, reduction: .sum).item(), sum, accuracy: 1e-5)
        XCTAssertEqual(try Tensor.focalLoss(z, target).item(), sum / 12, accuracy: 1e-6)
        XCTAssertEqual(Tensor.positiveCount(of: target), 2)
        // Other exponents.
        let a1 = try Tensor.focalLoss(z, target, alpha: 1, beta: 2, reduction: .none)
        let p3 = 1 / (1 + exp(-Double(z.storage[3])))
        XCTAssertEqual(Double(a1.storage[3]), -p3 * log(1 - p3), accuracy: 1e-6)
    }

    func testConfidentLogitsStayFinite() throws {
        let z = Make.tensor([4], [80, -80, 80, -80])
        let t = Make.tensor([4], [1, 1, 0, 0])
        let loss = try Tensor.focalLoss(z, t, reduction: .none)
        XCTAssertFalse(loss.hasNonFinite, "\(loss.storage)")
        XCTAssertEqual(loss.storage[0], 0, accuracy: 1e-20)
        XCTAssertEqual(loss.storage[1], 80, accuracy: 1e-3, "a missed centre costs its logit")
        z.requiresGrad = true
        let g = try grad(of: try Tensor.focalLoss(z, t, reduction: .sum), wrt: [z])[0]
        XCTAssertFalse(g.hasNonFinite, "\(g.storage)")
    }

    func testGradients() {
        let z = Make.normal([1, 2, 2, 3], seed: 8, scale: 1.5)
        gradCheck("focal loss none", [z, target], wrt: [0], tolerance: 1e-3) {
            try Tensor.focalLoss($0[0], $0[1], reduction: .none)
        }
        gradCheck("focal loss mean", [z, target], wrt: [0], tolerance: 1e-3) { try Tensor.focalLoss($0[0], $0[1]) }
        gradCheck("focal loss alpha 1.5 beta 2 sum", [z, target], wrt: [0], tolerance: 1e-3) {
            try Tensor.focalLoss($0[0], $0[1], alpha: 1.5, beta: 2, reduction: .sum)
        }
    }

    func testErrors() {
        let z = Make.normal([2, 3], seed: 1)
        XCTAssertThrowsError(try Tensor.focalLoss(z, Make.normal([3, 2], seed: 1))) { XCTAssertTrue("\($0)".contains("focal_loss"), "\($0)") }
        XCTAssertThrowsError(try Tensor.focalLoss(z, Make.tensor([2, 3], [0, 0, 0, 0, 0, 2]))) { XCTAssertTrue("\($0)".contains("[0, 1]"), "\($0)") }
        XCTAssertThrowsError(try Tensor.focalLoss(z, Make.tensor([2, 3], [0, 0, 0, 0, 0, 1]), alpha: -1))
    }
}
