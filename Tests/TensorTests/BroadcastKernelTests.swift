import Foundation
import Tensor
import XCTest

/// The broadcast loops (runs of merged dimensions) against values computed here position by
/// position from the broadcasting rule, for the layouts the kernels treat apart: equal sizes,
/// a number, a per-channel bias, a per-sample factor, an outer product, middle dimensions,
/// empty tensors. Exact: both sides compute the same operation on the same pair of values.
final class BroadcastKernelTests: XCTestCase {
    /// `f` of the two values each output position takes under NumPy's broadcasting rule.
    private func reference(_ a: Tensor, _ b: Tensor, _ shape: [Int], _ f: (Float, Float) -> Float) -> [Float] {
        func position(_ index: [Int], in own: [Int]) -> Int {
            let offset = shape.count - own.count
            var flat = 0
            for (d, size) in own.enumerated() { flat = flat * size + (size == 1 ? 0 : index[d + offset]) }
            return flat
        }
        let total = shape.reduce(1, *)
        return (0..<total).map { flat in
            var index = [Int](repeating: 0, count: shape.count), rest = flat
            for d in stride(from: shape.count - 1, through: 0, by: -1) { index[d] = rest % shape[d]; rest /= shape[d] }
            return f(a.storage[position(index, in: a.shape)], b.storage[position(index, in: b.shape)])
        }
    }

    func testBinaryOperationsOnEveryLayout() throws {
        let pairs: [([Int], [Int])] = [
            ([2, 3, 4, 5], [2, 3, 4, 5]), ([2, 3, 4, 5], []), ([], [2, 3]), ([2, 3, 4, 5], [1, 3, 1, 1]),
            ([2, 3, 4, 5], [2, 1, 1, 1]), ([4, 1], [1, 6]), ([3, 1, 5], [3, 4, 1]), ([1, 3, 1], [2, 1, 4]),
            ([2, 3, 4, 5], [4, 1]), ([5], [2, 3, 5]), ([2, 1, 4, 5], [3, 1, 1]), ([0, 3], [1, 3]), ([2, 0], [2, 1]),
            ([], []), ([1, 1], [3]), ([7, 3, 33, 1], [3, 1, 8]),
        ]
        for (index, (sa, sb)) in pairs.enumerated() {
            let a = try Tensor.rand(sa, seed: UInt64(2 * index + 1)) * 2 - 0.5
            let b = try Tensor.rand(sb, seed: UInt64(2 * index + 2)) + 0.25
            for (name, op, f) in [("add", { try $0 + $1 }, { $0 + $1 }), ("sub", { try $0 - $1 }, { $0 - $1 }),
                                  ("mul", { try $0 * $1 }, { $0 * $1 }), ("div", { try $0 / $1 }, { $0 / $1 }),
                                  ("minimum", { try $0.minimum($1) }, { Swift.min($0, $1) }),
                                  ("maximum", { try $0.maximum($1) }, { Swift.max($0, $1) })] as [(String, (Tensor, Tensor) throws -> Tensor, (Float, Float) -> Float)] {
                for (x, y, label) in [(a, b, "\(sa) with \(sb)"), (b, a, "\(sb) with \(sa)")] {
                    let out = try op(x, y)
                    let rank = max(x.rank, y.rank)
                    let shape = (0..<rank).map { d -> Int in
                        let dx = d < rank - x.rank ? 1 : x.shape[d - (rank - x.rank)]
                        let dy = d < rank - y.rank ? 1 : y.shape[d - (rank - y.rank)]
                        return dx == 1 ? dy : dx
                    }
                    XCTAssertEqual(out.shape, shape, "\(name) \(label): size")
                    XCTAssertEqual(out.storage, reference(x, y, shape, f), "\(name) \(label)")
                }
            }
        }
    }

    /// The gradient of a broadcast operand sums the output gradient over the stretched
    /// dimensions, in the order of the output's values.
    func testGradientOfABroadcastOperandSumsInOrder() throws {
        for (shape, small) in [([2, 3, 4, 5], [1, 3, 1, 1]), ([2, 3, 4, 5], [2, 1, 1, 1]), ([4, 6], [1, 6]),
                               ([4, 6], [4, 1]), ([3, 4, 5], [4, 1]), ([2, 3, 4], [])] as [([Int], [Int])] {
            let big = try Tensor.rand(shape, seed: 11)
            let weights = try Tensor.rand(shape, seed: 12)
            let b = try Tensor.rand(small, seed: 13)
            b.requiresGrad = true
            let g = try grad(of: ((big + b) * weights).sum(), wrt: [b])[0]
            var expected = [Float](repeating: 0, count: b.count)
            let strideShape = [Int](repeating: 1, count: shape.count - small.count) + small
            for flat in 0..<big.count {
                var rest = flat, target = 0, scale = 1
                for d in stride(from: shape.count - 1, through: 0, by: -1) {
                    let i = rest % shape[d]; rest /= shape[d]
                    if strideShape[d] != 1 { target += i * scale; scale *= strideShape[d] }
                }
                expected[target] += weights.storage[flat]
            }
            XCTAssertEqual(g.shape, small)
            XCTAssertEqual(g.storage, expected, "\(shape) to \(small)")
        }
    }
}
