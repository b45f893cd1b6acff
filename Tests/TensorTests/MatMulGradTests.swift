import Tensor
import XCTest

/// matmul (2-D, batched, broadcast batch) and linear.
final class MatMulGradTests: XCTestCase {
    /// Naive product with broadcast batch dimensions, in Double.
    func naiveMatmul(_ a: Tensor, _ b: Tensor) -> [Float] {
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        let ba = Array(a.shape.dropLast(2)), bb = Array(b.shape.dropLast(2))
        let rank = max(ba.count, bb.count)
        let pa = [Int](repeating: 1, count: rank - ba.count) + ba, pb = [Int](repeating: 1, count: rank - bb.count) + bb
        let batch = zip(pa, pb).map { max($0, $1) }
        var out: [Float] = []
        var index = [Int](repeating: 0, count: rank)
        for _ in 0..<batch.reduce(1, *) {
            var ia = 0, ib = 0
            for d in 0..<rank {
                ia = ia * pa[d] + (pa[d] == 1 ? 0 : index[d])
                ib = ib * pb[d] + (pb[d] == 1 ? 0 : index[d])
            }
            for i in 0..<m {
                for j in 0..<n {
                    var s = 0.0
                    for p in 0..<k { s += Double(a.storage[(ia * m + i) * k + p]) * Double(b.storage[(ib * k + p) * n + j]) }
                    out.append(Float(s))
                }
            }
            var d = rank - 1
            while d >= 0 { index[d] += 1; if index[d] < batch[d] { break }; index[d] = 0; d -= 1 }
        }
        return out
    }

    let cases: [(String, [Int], [Int], [Int])] = [
        ("2-D", [3, 4], [4, 5], [3, 5]),
        ("2-D column", [3, 4], [4, 1], [3, 1]),
        ("batched", [2, 3, 4], [2, 4, 5], [2, 3, 5]),
        ("broadcast rhs 2-D", [2, 3, 4], [4, 5], [2, 3, 5]),
        ("broadcast lhs 2-D", [3, 4], [2, 4, 5], [2, 3, 5]),
        ("broadcast batch ones", [2, 1, 3, 4], [3, 4, 2], [2, 3, 3, 2]),
        ("broadcast both", [2, 1, 2, 3], [1, 3, 3, 2], [2, 3, 2, 2]),
    ]

    func testMatmulGradients() {
        for (name, sa, sb, _) in cases {
            let a = Make.normal(sa, seed: 1), b = Make.normal(sb, seed: 2)
            gradCheck("matmul \(name)", [a, b], tolerance: 1e-3) { try $0[0].matmul($0[1]) }
        }
        let a = Make.normal([3, 3], seed: 3)
        gradCheck("matmul self", [a], tolerance: 1e-3) { try $0[0].matmul($0[0]) }
    }

    func testMatmulValues() throws {
        for (name, sa, sb, so) in cases {
            let a = Make.normal(sa, seed: 4), b = Make.normal(sb, seed: 5)
            assertValues(try a.matmul(b), so, naiveMatmul(a, b), accuracy: 1e-5, "matmul \(name)")
        }
        let a = Make.tensor([2, 2], [1, 2, 3, 4]), b = Make.tensor([2, 2], [5, 6, 7, 8])
        assertValues(try a.matmul(b), [2, 2], [19, 22, 43, 50], accuracy: 0, "by hand")
    }

    func testLinear() throws {
        let x = Make.normal([4, 5], seed: 6), w = Make.normal([3, 5], seed: 7), b = Make.normal([3], seed: 8)
        gradCheck("linear with bias", [x, w, b], tolerance: 1e-3) { try Tensor.linear($0[0], weight: $0[1], bias: $0[2]) }
        gradCheck("linear without bias", [x, w], tolerance: 1e-3) { try Tensor.linear($0[0], weight: $0[1], bias: nil) }
        gradCheck("linear input only", [x, w, b], wrt: [0], tolerance: 1e-3) { try Tensor.linear($0[0], weight: $0[1], bias: $0[2]) }
        gradCheck("linear bias only", [x, w, b], wrt: [2], tolerance: 1e-3) { try Tensor.linear($0[0], weight: $0[1], bias: $0[2]) }
        let x1 = Make.normal([1, 5], seed: 9)
        gradCheck("linear batch 1", [x1, w, b], tolerance: 1e-3) { try Tensor.linear($0[0], weight: $0[1], bias: $0[2]) }

        // x W^T + b
        let expected = try x.matmul(w.transposed(0, 1)) + b
        assertValues(try Tensor.linear(x, weight: w, bias: b), [4, 3], expected.storage, accuracy: 1e-5, "values")
        let small = try Tensor.linear(Make.tensor([1, 2], [1, 2]), weight: Make.tensor([2, 2], [1, 0, 3, 4]), bias: Make.tensor([2], [0.5, -1]))
        assertValues(small, [1, 2], [1.5, 10], accuracy: 0, "by hand")
    }
}
