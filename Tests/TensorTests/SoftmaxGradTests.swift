import Foundation
import Tensor
import XCTest

/// softmax and logSoftmax along each dimension.
final class SoftmaxGradTests: XCTestCase {
    let x = Make.normal([2, 3, 4], seed: 1)

    func testSoftmaxGradients() {
        for dim in [0, 1, 2, -1] {
            gradCheck("softmax dim \(dim)", [x], tolerance: 2e-3) { try $0[0].softmax(dim: dim) }
        }
        let m = Make.normal([4, 5], seed: 2)
        gradCheck("softmax 2-D dim 0", [m], tolerance: 2e-3) { try $0[0].softmax(dim: 0) }
        gradCheck("softmax 2-D dim 1", [m], tolerance: 2e-3) { try $0[0].softmax(dim: 1) }
        gradCheck("softmax 1-D", [Make.normal([6], seed: 3)], tolerance: 2e-3) { try $0[0].softmax(dim: 0) }
    }

    func testLogSoftmaxGradients() {
        let m = Make.normal([4, 5], seed: 4)
        gradCheck("log softmax 2-D dim 0", [m], tolerance: 2e-3) { try $0[0].logSoftmax(dim: 0) }
        gradCheck("log softmax 2-D dim 1", [m], tolerance: 2e-3) { try $0[0].logSoftmax(dim: 1) }
        for dim in [0, 1, 2, -1] {
            gradCheck("log softmax dim \(dim)", [x], tolerance: 2e-3) { try $0[0].logSoftmax(dim: dim) }
        }
        // Large logits: the rule works from the stable forward values.
        let large = Make.normal([3, 4], seed: 5, scale: 20, shift: 500)
        gradCheck("log softmax large logits", [large], step: 1e-2, tolerance: 1e-3) { try $0[0].logSoftmax(dim: 1) }
        gradCheck("softmax large logits", [large], step: 1e-2, tolerance: 1e-3) { try $0[0].softmax(dim: 1) }
    }

    func testValues() throws {
        let v = Make.tensor([2, 3], [1, 2, 3, 0, 0, 0])
        let total = exp(1.0) + exp(2.0) + exp(3.0)
        let expected: [Float] = [exp(1.0) / total, exp(2.0) / total, exp(3.0) / total, 1.0 / 3, 1.0 / 3, 1.0 / 3].map { Float($0) }
        assertValues(try v.softmax(dim: 1), [2, 3], expected, accuracy: 1e-6, "softmax")
        assertValues(try v.logSoftmax(dim: 1), [2, 3], expected.map { Float(log(Double($0))) }, accuracy: 1e-6, "log softmax")
        // Along dimension 0: pairs (1, 0), (2, 0), (3, 0).
        let col = try v.softmax(dim: 0)
        assertValues(col, [2, 3], [1, 2, 3, 0, 0, 0].enumerated().map { i, _ in
            let a = [1.0, 2, 3][i % 3]
            return Float(i < 3 ? exp(a) / (exp(a) + 1) : 1 / (exp(a) + 1))
        }, accuracy: 1e-6, "softmax dim 0")

        // Stable for large logits and sums to one.
        let big = Make.tensor([1, 3], [1000, 1001, 999])
        let p = try big.softmax(dim: 1)
        XCTAssertFalse(p.hasNonFinite)
        XCTAssertEqual(p.sum().storage[0], 1, accuracy: 1e-6)
        let lp = try big.logSoftmax(dim: 1)
        XCTAssertFalse(lp.hasNonFinite)
        XCTAssertEqual(lp.storage[1], -Float(log(1 + exp(-1.0) + exp(-2.0))), accuracy: 1e-5)
        let sums = try Make.normal([3, 4, 5], seed: 6, scale: 5).softmax(dim: 1).sum(dim: 1)
        assertValues(sums, [3, 5], [Float](repeating: 1, count: 15), accuracy: 1e-6, "sums")
    }
}
