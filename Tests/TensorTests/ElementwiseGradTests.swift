import Tensor
import XCTest

/// Arithmetic with broadcasting, unary functions and activations, clamp, minimum/maximum, where.
final class ElementwiseGradTests: XCTestCase {
    /// (lhs, rhs) shapes covering each way broadcasting can go.
    let broadcastPatterns: [(String, [Int], [Int])] = [
        ("same", [3, 4], [3, 4]),
        ("scalar rhs", [3, 4], []),
        ("scalar lhs", [], [3, 4]),
        ("one-element rhs", [2, 3], [1, 1]),
        ("row", [3, 4], [1, 4]),
        ("row without dim", [3, 4], [4]),
        ("column", [3, 4], [3, 1]),
        ("column lhs", [3, 1], [3, 4]),
        ("leading dims", [2, 3, 4], [4]),
        ("leading dims lhs", [3, 4], [2, 2, 3, 4]),
        ("both stretch", [2, 1, 4], [3, 1]),
        ("outer product", [3, 1], [1, 5]),
    ]

    func testAddSubMulDivBroadcasting() {
        for (name, sa, sb) in broadcastPatterns {
            let a = Make.normal(sa, seed: 1), b = Make.normal(sb, seed: 2)
            let d = Make.signedMagnitude(sb, seed: 3, 0.5, 2)
            let ad = Make.signedMagnitude(sa, seed: 4, 0.5, 2)
            gradCheck("add \(name)", [a, b], tolerance: 1e-3) { try $0[0] + $0[1] }
            gradCheck("sub \(name)", [a, b], tolerance: 1e-3) { try $0[0] - $0[1] }
            gradCheck("mul \(name)", [a, b], tolerance: 1e-3) { try $0[0] * $0[1] }
            gradCheck("div \(name)", [a, d], tolerance: 2e-3) { try $0[0] / $0[1] }
            // Each operand alone, the other a constant.
            gradCheck("div \(name) lhs only", [a, d], wrt: [0], tolerance: 2e-3) { try $0[0] / $0[1] }
            gradCheck("div \(name) rhs only", [ad, d], wrt: [1], tolerance: 2e-3) { try $0[0] / $0[1] }
        }
    }

    func testArithmeticWithNumbers() {
        let a = Make.signedMagnitude([2, 3], seed: 5, 0.5, 2)
        gradCheck("x + 2", [a], tolerance: 1e-3) { try $0[0] + 2 }
        gradCheck("x - 2", [a], tolerance: 1e-3) { try $0[0] - 2 }
        gradCheck("x * 3", [a], tolerance: 1e-3) { try $0[0] * 3 }
        gradCheck("x / 4", [a], tolerance: 1e-3) { try $0[0] / 4 }
    }

    /// An input used twice by one op must collect both contributions.
    func testSameTensorOnBothSides() {
        let a = Make.signedMagnitude([2, 3], seed: 6, 0.5, 2)
        gradCheck("x + x", [a], tolerance: 1e-3) { try $0[0] + $0[0] }
        gradCheck("x * x", [a], tolerance: 2e-3) { try $0[0] * $0[0] }
        gradCheck("x / x", [a], tolerance: 2e-3) { try $0[0] / $0[0] }
        gradCheck("x - x * x", [a], tolerance: 2e-3) { try $0[0] - $0[0] * $0[0] }
        gradCheck("maximum(x, x)", [a], tolerance: 1e-3) { try $0[0].maximum($0[0]) }
    }

    func testUnary() {
        let x = Make.normal([3, 5], seed: 7)
        let away = Make.awayFromZero([3, 5], seed: 8)
        let positive = Make.uniform([3, 5], seed: 9, 0.3, 3)
        gradCheck("neg", [x], tolerance: 1e-3) { -$0[0] }
        gradCheck("abs", [away], tolerance: 1e-3) { $0[0].abs() }
        gradCheck("exp", [x], tolerance: 2e-3) { $0[0].exp() }
        gradCheck("log", [positive], step: 1e-3, tolerance: 2e-3) { $0[0].log() }
        gradCheck("sqrt", [positive], step: 1e-3, tolerance: 2e-3) { $0[0].sqrt() }
        gradCheck("sign", [away], tolerance: 1e-3) { $0[0].sign() }
    }

    func testPow() {
        let base = Make.uniform([2, 3], seed: 10, 0.5, 2)
        let exponent = Make.uniform([2, 3], seed: 11, -1.5, 2.5)
        gradCheck("pow tensor exponent", [base, exponent], step: 1e-3, tolerance: 2e-3) { try $0[0].pow($0[1]) }
        // Broadcast exponent: its gradient sums over the stretched dimension.
        let rowExponent = Make.uniform([1, 3], seed: 12, -1, 2)
        gradCheck("pow row exponent", [base, rowExponent], step: 1e-3, tolerance: 2e-3) { try $0[0].pow($0[1]) }
        // Scalar exponents, including integer powers of negative bases.
        let signed = Make.signedMagnitude([2, 3], seed: 13, 0.3, 1.5)
        for p: Float in [2, 3, -1] {
            gradCheck("pow \(p)", [signed], step: 1e-3, tolerance: 2e-3) { try $0[0].pow(Tensor(scalar: p)) }
        }
        for p: Float in [0.5, 1.7, -0.5] {
            gradCheck("pow \(p)", [base], step: 1e-3, tolerance: 2e-3) { try $0[0].pow(Tensor(scalar: p)) }
        }
        gradCheck("pow 0", [base], tolerance: 1e-3) { try $0[0].pow(Tensor(scalar: 0)) }
    }

    func testActivations() {
        let away = Make.awayFromZero([4, 5], seed: 14)
        let wide = Make.normal([4, 5], seed: 15, scale: 4)
        gradCheck("relu", [away], tolerance: 1e-3) { $0[0].relu() }
        gradCheck("leaky relu 0.1", [away], tolerance: 1e-3) { $0[0].leakyRelu(0.1) }
        gradCheck("leaky relu 0.3", [away], tolerance: 1e-3) { $0[0].leakyRelu(0.3) }
        gradCheck("sigmoid", [wide], tolerance: 2e-3) { $0[0].sigmoid() }
        gradCheck("tanh", [wide], step: 1e-3, tolerance: 2e-3) { $0[0].tanh() }
    }

    func testClamp() {
        // Values clear of both bounds by more than the step.
        let x = Make.tensor([2, 4], [-1.7, -0.8, -0.3, 0.1, 0.35, 0.62, 1.4, 2.2])
        gradCheck("clamp both", [x], tolerance: 1e-3) { try $0[0].clamp(min: -0.5, max: 0.5) }
        gradCheck("clamp min", [x], tolerance: 1e-3) { try $0[0].clamp(min: 0, max: nil) }
        gradCheck("clamp max", [x], tolerance: 1e-3) { try $0[0].clamp(min: nil, max: 1) }
        gradCheck("clamp none", [x], tolerance: 1e-3) { try $0[0].clamp(min: nil, max: nil) }
        assertValues(try! x.clamp(min: -0.5, max: 0.5), [2, 4], [-0.5, -0.5, -0.3, 0.1, 0.35, 0.5, 0.5, 0.5], accuracy: 0, "clamp")
    }

    func testMinimumMaximum() throws {
        // Distinct values, so no pair ties within a step.
        let a = Make.distinct([3, 4], seed: 16, spacing: 0.1)
        let b = Make.distinct([3, 4], seed: 17, spacing: 0.1, center: 0.025)
        gradCheck("maximum", [a, b], tolerance: 1e-3) { try $0[0].maximum($0[1]) }
        gradCheck("minimum", [a, b], tolerance: 1e-3) { try $0[0].minimum($0[1]) }
        let row = Make.tensor([1, 4], [-0.33, 0.07, 0.212, -0.04])
        gradCheck("maximum row", [a, row], tolerance: 1e-3) { try $0[0].maximum($0[1]) }
        gradCheck("minimum row", [a, row], tolerance: 1e-3) { try $0[0].minimum($0[1]) }
        let s = Make.tensor([], [0.013])
        gradCheck("maximum scalar", [a, s], tolerance: 1e-3) { try $0[0].maximum($0[1]) }

        // Ties split the gradient evenly, as PyTorch does.
        let x = Make.tensor([3], [1, 2, 3]), y = Make.tensor([3], [2, 2, 2])
        x.requiresGrad = true; y.requiresGrad = true
        let gs = try grad(of: try x.maximum(y).sum(), wrt: [x, y])
        assertValues(gs[0], [3], [0, 0.5, 1], accuracy: 0, "maximum tie, x")
        assertValues(gs[1], [3], [1, 0.5, 0], accuracy: 0, "maximum tie, y")
        let hs = try grad(of: try x.minimum(y).sum(), wrt: [x, y])
        assertValues(hs[0], [3], [1, 0.5, 0], accuracy: 0, "minimum tie, x")
        assertValues(hs[1], [3], [0, 0.5, 1], accuracy: 0, "minimum tie, y")
    }

    func testSelectWhere() {
        let cond = Make.tensor([3, 4], [1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1])
        let a = Make.normal([3, 4], seed: 18), b = Make.normal([3, 4], seed: 19)
        gradCheck("where", [a, b], tolerance: 1e-3) { try Tensor.select(where: cond, $0[0], $0[1]) }
        // Broadcasting everywhere: condition per column, a per row, b a scalar.
        let colCond = Make.tensor([1, 4], [0, 1, 1, 0])
        let rowA = Make.normal([3, 1], seed: 20), scalarB = Make.tensor([], [0.7])
        gradCheck("where broadcast", [rowA, scalarB], tolerance: 1e-3) { try Tensor.select(where: colCond, $0[0], $0[1]) }
        gradCheck("where broadcast condition", [a, b], tolerance: 1e-3) { try Tensor.select(where: Make.tensor([3, 1], [1, 0, 1]), $0[0], $0[1]) }
        // The condition may be the larger operand.
        let cond3 = Make.tensor([2, 3, 4], (0..<24).map { Float($0 % 3 == 0 ? 1 : 0) })
        gradCheck("where condition widest", [a, Make.normal([4], seed: 21)], tolerance: 1e-3) {
            try Tensor.select(where: cond3, $0[0], $0[1])
        }
    }

    /// A composite expression: chains of rules and accumulation across uses.
    func testComposite() {
        let x = Make.normal([2, 3], seed: 22), w = Make.normal([3], seed: 23)
        gradCheck("composite", [x, w], tolerance: 2e-3) { v in
            let z = try v[0] * v[1] + v[0].tanh()
            return try (z.sigmoid() * z).exp() - z / (v[1] * v[1] + 1)
        }
    }
}
