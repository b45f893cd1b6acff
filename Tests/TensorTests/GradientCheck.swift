import Foundation
import Tensor
import XCTest

/// Finite-difference checks of the gradient rules, through the public API only.
///
/// The op under test is reduced to a scalar by a seeded random projection,
/// `S(x) = sum(f(x) * r)`, so every output element weighs in with a different coefficient and a
/// rule that mixes up positions cannot pass by symmetry. The analytic gradient comes from
/// `grad(of:wrt:)`; the numeric one from central differences of `S` accumulated in Double, with
/// the step actually taken (after rounding to Float) as the denominator.
///
/// Errors are reported relative to the gradient's scale (its largest magnitude), the natural
/// yardstick in float32 where a forward pass is only good to about 1e-7 of its values.

/// Set `GRADCHECK_VERBOSE=1` to print the error of every check.
private let verbose = ProcessInfo.processInfo.environment["GRADCHECK_VERBOSE"] == "1"

/// Copies of `inputs` as fresh leaves; those listed in `differentiable` require a gradient.
private func leaves(_ inputs: [Tensor], _ differentiable: Set<Int>) throws -> [Tensor] {
    try inputs.enumerated().map { i, t in
        let leaf = try Tensor(shape: t.shape, storage: t.storage)
        leaf.requiresGrad = differentiable.contains(i)
        return leaf
    }
}

/// Tensors shaped like `inputs` holding `values` (no gradient).
private func rebuilt(_ inputs: [Tensor], _ values: [[Float]]) throws -> [Tensor] {
    try zip(inputs, values).map { try Tensor(shape: $0.shape, storage: $1) }
}

/// `sum(y * r)` in Double.
private func project(_ y: Tensor, _ r: [Double]) -> Double {
    var s = 0.0
    for (v, w) in zip(y.storage, r) { s += Double(v) * w }
    return s
}

private func seededNormals(_ count: Int, seed: UInt64) -> [Float] {
    var rng = SeededRandom(seed: seed)
    return (0..<count).map { _ in rng.normal() }
}

/// Checks the gradients of `f` with respect to `inputs[i]` for each `i` in `wrt` (all inputs by
/// default) against central differences with step `step`, and returns the largest error
/// relative to the gradient scale. Also checks that asking for the gradient of one input at a
/// time (the `needed` mask of the backward rules) gives what asking for all of them gives.
///
/// `f` is called many times on fresh copies of the inputs; it must be deterministic and must
/// create any state it mutates (batch-norm running statistics) on each call.
@discardableResult
func gradCheck(_ label: String, _ inputs: [Tensor], wrt: [Int]? = nil, step: Float = 1e-2,
               tolerance: Double = 1e-2, seed: UInt64 = 0x5EED,
               file: StaticString = #filePath, line: UInt = #line,
               _ f: ([Tensor]) throws -> Tensor) -> Double {
    do {
        let wrt = wrt ?? Array(inputs.indices)
        let result = try gradientErrors(inputs, wrt: wrt, step: step, seed: seed, f)
        for (k, e) in result.inputs.enumerated() {
            if verbose {
                print(String(format: "gradcheck %@ [input %d]: max relative error %.2e (scale %.3g)", label, wrt[k], e.error, e.scale))
            }
            XCTAssertLessThanOrEqual(e.error, tolerance, "\(label): input \(wrt[k]), \(e.detail)", file: file, line: line)
        }
        for problem in result.maskProblems {
            XCTFail("\(label): \(problem)", file: file, line: line)
        }
        return result.inputs.map(\.error).max() ?? 0
    } catch {
        XCTFail("\(label): \(error)", file: file, line: line)
        return .infinity
    }
}

struct GradientErrors {
    struct Input {
        var error: Double
        var scale: Double
        var detail: String
    }
    var inputs: [Input] = []
    var maskProblems: [String] = []
}

/// The comparison behind `gradCheck`, without assertions (so the checker itself can be tested).
func gradientErrors(_ inputs: [Tensor], wrt: [Int], step h: Float = 1e-2, seed: UInt64 = 0x5EED,
                    _ f: ([Tensor]) throws -> Tensor) throws -> GradientErrors {
    let differentiable = Set(wrt)
    guard differentiable.count == wrt.count else { throw TensorError("gradCheck: duplicate input in wrt \(wrt)") }
    var result = GradientErrors()

    // Analytic gradients of S.
    let xs = try leaves(inputs, differentiable)
    let y = try f(xs)
    let r = try Tensor(shape: y.shape, storage: seededNormals(y.count, seed: seed))
    let s = try (y * r).sum()
    let analytic = try grad(of: s, wrt: wrt.map { xs[$0] })
    let rD = r.storage.map(Double.init)

    for (k, i) in wrt.enumerated() {
        let a = analytic[k]
        guard a.shape == inputs[i].shape else {
            result.inputs.append(.init(error: .infinity, scale: 0,
                detail: "gradient of size \(describeShape(a.shape)) for an input of size \(describeShape(inputs[i].shape))"))
            continue
        }

        // Central differences, one element at a time.
        var numeric = [Double](repeating: 0, count: inputs[i].count)
        var perturbed = inputs.map(\.storage)
        for j in 0..<inputs[i].count {
            let x = inputs[i].storage[j]
            let xp = x + h, xm = x - h
            perturbed[i][j] = xp
            let sp = project(try f(try rebuilt(inputs, perturbed)), rD)
            perturbed[i][j] = xm
            let sm = project(try f(try rebuilt(inputs, perturbed)), rD)
            perturbed[i][j] = x
            numeric[j] = (sp - sm) / (Double(xp) - Double(xm))
        }

        var scale = 0.0, maxDiff = 0.0, at = 0
        for j in 0..<numeric.count {
            scale = max(scale, abs(numeric[j]), abs(Double(a.storage[j])))
            let d = abs(numeric[j] - Double(a.storage[j]))
            if d > maxDiff { maxDiff = d; at = j }
        }
        // A gradient that is zero everywhere is compared in absolute terms.
        result.inputs.append(.init(error: maxDiff / max(scale, 1e-3), scale: scale,
            detail: "element \(at): analytic \(a.count > at ? a.storage[at] : 0) vs numeric \(numeric.count > at ? numeric[at] : 0) (scale \(scale))"))
    }

    // The needed mask: one input at a time, and all in reverse order, must agree with all at once.
    if wrt.count > 1 {
        var requests = wrt.map { [$0] }
        requests.append(wrt.reversed())
        for request in requests {
            let xs = try leaves(inputs, differentiable)
            let s = try (f(xs) * r).sum()
            let partial = try grad(of: s, wrt: request.map { xs[$0] })
            for (q, i) in request.enumerated() {
                let full = analytic[wrt.firstIndex(of: i)!]
                let d = maxAbsDifference(partial[q], full)
                let scale = full.storage.reduce(Float(0)) { max($0, abs($1)) }
                if !(d <= 1e-6 * max(scale, 1)) {
                    result.maskProblems.append("gradient of input \(i) differs by \(d) when asking for inputs \(request) instead of \(wrt)")
                }
            }
        }
    }
    return result
}

/// For inputs too large for one difference per element: checks the derivative of S along a few
/// random directions, `(S(x + h d) - S(x - h d)) / 2h` against `<grad S, d>`, relative to the
/// gradient's norm (the spread of `<grad S, d>` over random directions).
@discardableResult
func directionalCheck(_ label: String, _ inputs: [Tensor], wrt: [Int]? = nil, step h: Float = 1e-2,
                      directions: Int = 3, tolerance: Double = 1e-3, seed: UInt64 = 0xD1EC,
                      file: StaticString = #filePath, line: UInt = #line,
                      _ f: ([Tensor]) throws -> Tensor) -> Double {
    do {
        let wrt = wrt ?? Array(inputs.indices)
        let xs = try leaves(inputs, Set(wrt))
        let y = try f(xs)
        let r = try Tensor(shape: y.shape, storage: seededNormals(y.count, seed: seed))
        let analytic = try grad(of: try (y * r).sum(), wrt: wrt.map { xs[$0] })
        let rD = r.storage.map(Double.init)
        let norm = analytic.reduce(0.0) { acc, g in g.storage.reduce(acc) { $0 + Double($1) * Double($1) } }.squareRoot()
        var worst = 0.0
        for dir in 0..<directions {
            var plus = inputs.map(\.storage), minus = plus
            var expected = 0.0  // <grad S, x+ - x->, with the steps actually taken
            for (k, i) in wrt.enumerated() {
                let d = seededNormals(inputs[i].count, seed: seed &+ UInt64(dir + 1) &* 7919 &+ UInt64(i))
                for j in 0..<d.count {
                    let x = inputs[i].storage[j]
                    plus[i][j] = x + h * d[j]
                    minus[i][j] = x - h * d[j]
                    expected += Double(analytic[k].storage[j]) * (Double(plus[i][j]) - Double(minus[i][j]))
                }
            }
            let sp = project(try f(try rebuilt(inputs, plus)), rD)
            let sm = project(try f(try rebuilt(inputs, minus)), rD)
            let error = abs((sp - sm) - expected) / (2 * Double(h) * max(norm, 1e-3))
            worst = max(worst, error)
        }
        if verbose { print(String(format: "dircheck %@: max relative error %.2e (gradient norm %.3g)", label, worst, norm)) }
        XCTAssertLessThanOrEqual(worst, tolerance, "\(label): directional derivative off by \(worst) of the gradient norm \(norm)",
                                 file: file, line: line)
        return worst
    } catch {
        XCTFail("\(label): \(error)", file: file, line: line)
        return .infinity
    }
}

func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
    guard a.shape == b.shape else { return .infinity }
    return zip(a.storage, b.storage).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
}

/// Asserts `t` has `shape` and values within `accuracy` of `expected`.
func assertValues(_ t: Tensor, _ shape: [Int], _ expected: [Float], accuracy: Float = 1e-5,
                  _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(t.shape, shape, "\(message): size", file: file, line: line)
    XCTAssertEqual(t.count, expected.count, "\(message): count", file: file, line: line)
    for (i, (v, e)) in zip(t.storage, expected).enumerated() where !(abs(v - e) <= accuracy * max(1, abs(e))) {
        XCTFail("\(message): element \(i) is \(v), expected \(e)", file: file, line: line)
        return
    }
}

/// Deterministic test inputs, shaped to stay clear of kinks and ties.
enum Make {
    static func tensor(_ shape: [Int], _ values: [Float]) -> Tensor {
        try! Tensor(shape: shape, storage: values)
    }

    /// Standard normals times `scale`, plus `shift`.
    static func normal(_ shape: [Int], seed: UInt64, scale: Float = 1, shift: Float = 0) -> Tensor {
        tensor(shape, seededNormals(shape.reduce(1, *), seed: seed).map { $0 * scale + shift })
    }

    /// Normals pushed out of (-margin, margin): for abs, relu and friends.
    static func awayFromZero(_ shape: [Int], seed: UInt64, margin: Float = 0.1) -> Tensor {
        tensor(shape, seededNormals(shape.reduce(1, *), seed: seed).map { $0 < 0 ? $0 - margin : $0 + margin })
    }

    /// Uniform in [lo, hi).
    static func uniform(_ shape: [Int], seed: UInt64, _ lo: Float, _ hi: Float) -> Tensor {
        var rng = SeededRandom(seed: seed)
        return tensor(shape, (0..<shape.reduce(1, *)).map { _ in lo + (hi - lo) * rng.uniform() })
    }

    /// Uniform magnitude in [lo, hi) with a random sign: for divisors.
    static func signedMagnitude(_ shape: [Int], seed: UInt64, _ lo: Float, _ hi: Float) -> Tensor {
        var rng = SeededRandom(seed: seed)
        return tensor(shape, (0..<shape.reduce(1, *)).map { _ in
            let m = lo + (hi - lo) * rng.uniform()
            return rng.below(2) == 0 ? m : -m
        })
    }

    /// All values distinct, `spacing` apart, centered on `center`, in a seeded random order: for
    /// max, min and max pooling, where a perturbation must not change which element wins.
    static func distinct(_ shape: [Int], seed: UInt64, spacing: Float = 0.05, center: Float = 0) -> Tensor {
        let n = shape.reduce(1, *)
        var values = (0..<n).map { (Float($0) - Float(n - 1) / 2) * spacing + center }
        var rng = SeededRandom(seed: seed)
        for i in stride(from: n - 1, to: 0, by: -1) { values.swapAt(i, rng.below(i + 1)) }
        return tensor(shape, values)
    }
}

/// The checker must catch wrong gradients, or its passing means nothing.
final class GradientCheckSelfTests: XCTestCase {
    func testCatchesAMissingContribution() throws {
        // `detached` hides one path from the tape: the analytic gradient is x, the true one 2x.
        let x = Make.uniform([2, 3], seed: 1, 0.5, 1.5)
        let e = try gradientErrors([x], wrt: [0]) { try $0[0].detached() * $0[0] }
        XCTAssertGreaterThan(e.inputs[0].error, 0.3)
        let ok = try gradientErrors([x], wrt: [0]) { try $0[0] * $0[0] }
        XCTAssertLessThan(ok.inputs[0].error, 1e-3)
    }

    func testCatchesAPermutedGradient() throws {
        // The projection weighs each output differently, so a gradient in the wrong place shows.
        let x = Make.normal([4], seed: 2)
        let e = try gradientErrors([x], wrt: [0]) { v in
            // The value is x reversed; the tape sees x plus a constant.
            let flipped = Make.tensor([4], v[0].storage.reversed())
            return try v[0] - v[0].detached() + flipped
        }
        XCTAssertGreaterThan(e.inputs[0].error, 0.3)
    }

    func testDirectionalCheckAgreesOnALargeInput() {
        let x = Make.normal([40, 50], seed: 3)
        directionalCheck("tanh large", [x], tolerance: 1e-3) { $0[0].tanh() }
    }
}
