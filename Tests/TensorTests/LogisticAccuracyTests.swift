import Foundation
import Tensor
import XCTest

/// The logistic function's values (`LogisticValues`, Cephes's exp and log polynomials in C)
/// against double-precision references over the whole range of logits: sigmoid, log-sigmoid
/// and the focal loss, which also uses 1 - sigmoid and log(1 - sigmoid).
final class LogisticAccuracyTests: XCTestCase {
    /// 4099 logits from -100 to 100: not a multiple of the kernel's 16 or 4, so every path runs.
    let logits: Tensor = {
        let n = 4099
        return Make.tensor([n], (0..<n).map { Float(-100 + 200 * Double($0) / Double(n - 1)) })
    }()

    /// Units in the last place of float between `value` and `reference`; results below the
    /// smallest normal float (where the kernel gives 0) count as exact.
    private func ulps(_ value: Float, _ reference: Double) -> Double {
        if Swift.abs(reference) < Double(Float.leastNormalMagnitude) && Swift.abs(value) < Float.leastNormalMagnitude { return 0 }
        return Swift.abs(Double(value) - reference) / Double(Float(reference).ulp)
    }

    private func softplus(_ x: Double) -> Double { x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)) }

    func testSigmoidAndLogSigmoidWithinFourUnitsInTheLastPlace() {
        let p = logits.sigmoid(), logP = logits.logSigmoid()
        var worstP = 0.0, worstLogP = 0.0
        for (i, z) in logits.storage.enumerated() {
            worstP = max(worstP, ulps(p.storage[i], 1 / (1 + exp(-Double(z)))))
            worstLogP = max(worstLogP, ulps(logP.storage[i], -softplus(-Double(z))))
        }
        // Measured: 2.25 and 1.84 units.
        XCTAssertLessThanOrEqual(worstP, 4)
        XCTAssertLessThanOrEqual(worstLogP, 4)
    }

    func testFocalLossOverTheWholeRange() throws {
        // Each logit once as an object centre (t = 1) and once beside one (t = 0.5).
        let z = try Tensor.cat([logits, logits], dim: 0)
        let t = Make.tensor([2 * logits.count], Array(repeating: 1, count: logits.count) + Array(repeating: 0.5, count: logits.count))
        let loss = try Tensor.focalLoss(z, t, reduction: .none)
        for i in 0..<z.count {
            let x = Double(z.storage[i]), p = 1 / (1 + exp(-x)), q = 1 / (1 + exp(x))
            let expected = t.storage[i] == 1 ? -q * q * -softplus(-x) : -pow(0.5, 4) * p * p * -softplus(x)
            XCTAssertLessThanOrEqual(ulps(loss.storage[i], expected), 8, "logit \(x), target \(t.storage[i])")
        }
    }

    func testSpecialValues() {
        let z = Make.tensor([6], [.nan, .infinity, -.infinity, 0, 88, -88])
        let p = z.sigmoid().storage, logP = z.logSigmoid().storage
        XCTAssertTrue(p[0].isNaN && logP[0].isNaN, "NaN stays NaN")
        XCTAssertEqual(p[1], 1)
        XCTAssertEqual(logP[1], 0)
        XCTAssertEqual(p[2], 0)
        XCTAssertEqual(logP[2], -.infinity)
        XCTAssertEqual(p[3], 0.5)
        XCTAssertEqual(logP[3], Float(-log(2.0)), accuracy: 1e-7)
        XCTAssertEqual(p[4], 1)
        XCTAssertEqual(logP[5], -88, accuracy: 1e-5)
    }
}
