import Tensor
import XCTest

/// reshape, flatten, permute, transpose, slice, select, indexSelect, cat, stack, pad.
final class ShapeGradTests: XCTestCase {
    let x = Make.normal([2, 3, 4], seed: 1)

    func testReshapeAndFlatten() throws {
        gradCheck("reshape", [x], tolerance: 1e-3) { try $0[0].reshaped([4, 6]) }
        gradCheck("reshape -1", [x], tolerance: 1e-3) { try $0[0].reshaped([3, -1, 2]) }
        gradCheck("flatten", [x], tolerance: 1e-3) { try $0[0].flattened() }
        gradCheck("flatten from 0", [x], tolerance: 1e-3) { try $0[0].flattened(from: 0) }
        gradCheck("flatten from 2", [x], tolerance: 1e-3) { try $0[0].flattened(from: 2) }
        XCTAssertEqual(try x.reshaped([3, -1, 2]).shape, [3, 4, 2])
        XCTAssertEqual(try x.flattened().shape, [2, 12])
    }

    func testPermuteAndTranspose() throws {
        for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0], [0, 2, 1]] {
            gradCheck("permute \(order)", [x], tolerance: 1e-3) { try $0[0].permuted(order) }
        }
        let x4 = Make.normal([2, 1, 3, 2], seed: 2)
        gradCheck("permute 4-D", [x4], tolerance: 1e-3) { try $0[0].permuted([3, 1, 0, 2]) }
        gradCheck("transpose 0 2", [x], tolerance: 1e-3) { try $0[0].transposed(0, 2) }
        gradCheck("transpose -1 -2", [x], tolerance: 1e-3) { try $0[0].transposed(-1, -2) }

        let m = Make.tensor([2, 3], [1, 2, 3, 4, 5, 6])
        assertValues(try m.transposed(0, 1), [3, 2], [1, 4, 2, 5, 3, 6], accuracy: 0, "transpose")
        let p = try x.permuted([2, 0, 1])
        XCTAssertEqual(p.shape, [4, 2, 3])
        // p[k, i, j] = x[i, j, k]
        XCTAssertEqual(p.storage[(3 * 2 + 1) * 3 + 2], x.storage[(1 * 3 + 2) * 4 + 3])
    }

    func testSlice() throws {
        let y = Make.normal([3, 7, 2], seed: 3)
        gradCheck("slice step 1", [y], tolerance: 1e-3) { try $0[0].slice(dim: 1, start: 2, end: 5) }
        gradCheck("slice step 2", [y], tolerance: 1e-3) { try $0[0].slice(dim: 1, start: 1, end: 7, step: 2) }
        gradCheck("slice step 3 end not reached", [y], tolerance: 1e-3) { try $0[0].slice(dim: 1, start: 0, end: 6, step: 3) }
        gradCheck("slice dim 0", [y], tolerance: 1e-3) { try $0[0].slice(dim: 0, start: 1, end: 3) }
        gradCheck("slice last dim", [y], tolerance: 1e-3) { try $0[0].slice(dim: -1, start: 1, end: 2) }
        // Overlapping slices of one input accumulate.
        gradCheck("two slices", [y], tolerance: 1e-3) { v in
            try v[0].slice(dim: 1, start: 0, end: 4) * v[0].slice(dim: 1, start: 2, end: 6)
        }
        let r = Make.tensor([7], [0, 1, 2, 3, 4, 5, 6])
        assertValues(try r.slice(dim: 0, start: 1, end: 7, step: 2), [3], [1, 3, 5], accuracy: 0, "step 2")
        assertValues(try r.slice(dim: 0, start: 0, end: 6, step: 4), [2], [0, 4], accuracy: 0, "step 4")
        XCTAssertEqual(try r.slice(dim: 0, start: 3, end: 3).shape, [0])
    }

    func testSelect() throws {
        for (dim, index) in [(0, 1), (1, 2), (2, 0), (-1, 3)] {
            gradCheck("select dim \(dim) index \(index)", [x], tolerance: 1e-3) { try $0[0].select(dim: dim, index: index) }
        }
        XCTAssertEqual(try x.select(dim: 1, index: 2).shape, [2, 4])
        let v = Make.tensor([3], [4, 5, 6])
        assertValues(try v.select(dim: 0, index: 1), [], [5], accuracy: 0, "to a scalar")
    }

    func testIndexSelect() throws {
        let repeated = Make.tensor([5], [2, 0, 2, 2, 3])
        gradCheck("index repeated dim 1", [x], tolerance: 1e-3) { try $0[0].indexSelect(dim: 1, indices: Make.tensor([4], [2, 0, 2, 1])) }
        gradCheck("index repeated dim 2", [x], tolerance: 1e-3) { try $0[0].indexSelect(dim: 2, indices: repeated) }
        gradCheck("index dim 0", [x], tolerance: 1e-3) { try $0[0].indexSelect(dim: 0, indices: Make.tensor([3], [1, 1, 0])) }
        // A repeated index must collect the gradient of every copy.
        let v = Make.tensor([4], [10, 11, 12, 13])
        v.requiresGrad = true
        let picked = try v.indexSelect(dim: 0, indices: repeated)
        assertValues(picked, [5], [12, 10, 12, 12, 13], accuracy: 0, "values")
        let g = try grad(of: try (picked * Make.tensor([5], [1, 2, 3, 4, 5])).sum(), wrt: [v])
        assertValues(g[0], [4], [2, 0, 8, 5], accuracy: 0, "accumulated")
    }

    func testCat() throws {
        let a = Make.normal([2, 1, 4], seed: 4), b = Make.normal([2, 3, 4], seed: 5), c = Make.normal([2, 2, 4], seed: 6)
        gradCheck("cat dim 1", [a, b, c], tolerance: 1e-3) { try Tensor.cat($0, dim: 1) }
        gradCheck("cat dim 1, middle only", [a, b, c], wrt: [1], tolerance: 1e-3) { try Tensor.cat($0, dim: 1) }
        gradCheck("cat dim 1, outer only", [a, b, c], wrt: [0, 2], tolerance: 1e-3) { try Tensor.cat($0, dim: 1) }
        let d = Make.normal([1, 3, 4], seed: 7)
        gradCheck("cat dim 0", [b, d], tolerance: 1e-3) { try Tensor.cat($0, dim: 0) }
        let e = Make.normal([2, 3, 1], seed: 8)
        gradCheck("cat last dim", [b, e, b], tolerance: 1e-3) { try Tensor.cat($0, dim: -1) }
        // The same tensor twice.
        gradCheck("cat self", [b], tolerance: 1e-3) { try Tensor.cat([$0[0], $0[0]], dim: 2) }

        let p = Make.tensor([2, 1], [1, 2]), q = Make.tensor([2, 2], [3, 4, 5, 6])
        assertValues(try Tensor.cat([p, q], dim: 1), [2, 3], [1, 3, 4, 2, 5, 6], accuracy: 0, "cat values")
    }

    func testStack() throws {
        let a = Make.normal([2, 3], seed: 9), b = Make.normal([2, 3], seed: 10), c = Make.normal([2, 3], seed: 11)
        for dim in [0, 1, 2, -1] {
            gradCheck("stack dim \(dim)", [a, b, c], tolerance: 1e-3) { try Tensor.stack($0, dim: dim) }
        }
        XCTAssertEqual(try Tensor.stack([a, b, c], dim: 1).shape, [2, 3, 3])
        let p = Make.tensor([2], [1, 2]), q = Make.tensor([2], [3, 4])
        assertValues(try Tensor.stack([p, q], dim: 1), [2, 2], [1, 3, 2, 4], accuracy: 0, "stack values")
    }

    func testPad() throws {
        let y = Make.normal([2, 2, 3], seed: 12)
        gradCheck("pad last", [y], tolerance: 1e-3) { try $0[0].padded([(1, 2)]) }
        gradCheck("pad last two", [y], tolerance: 1e-3) { try $0[0].padded([(0, 1), (2, 1)], value: 0.5) }
        gradCheck("pad all three", [y], tolerance: 1e-3) { try $0[0].padded([(1, 0), (0, 0), (1, 1)], value: -1) }
        let v = Make.tensor([2, 2], [1, 2, 3, 4])
        assertValues(try v.padded([(1, 0), (0, 1)], value: 9), [3, 3], [9, 1, 2, 9, 3, 4, 9, 9, 9], accuracy: 0, "pad values")
    }
}
