import Tensor
import XCTest

/// interpolate: values as PyTorch computes them and finite-difference gradients.
final class InterpolateGradTests: XCTestCase {
    let grid = Make.tensor([1, 1, 2, 2], [1, 2, 3, 4])

    func testNearest() throws {
        assertValues(try Tensor.interpolate(grid, .scale(2, 2)), [1, 1, 4, 4],
                     [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4], accuracy: 0, "nearest x2")
        // Size 3 from 2: source floor(i · 2/3) = 0, 0, 1.
        assertValues(try Tensor.interpolate(grid, .size(3, 3)), [1, 1, 3, 3], [1, 1, 2, 1, 1, 2, 3, 3, 4], accuracy: 0, "nearest size 3")
        // Down by 2 keeps the top-left of each block.
        let x = Make.tensor([1, 1, 1, 4], [1, 2, 3, 4])
        assertValues(try Tensor.interpolate(x, .size(1, 2)), [1, 1, 1, 2], [1, 3], accuracy: 0, "nearest down")
    }

    func testBilinear() throws {
        // PyTorch's F.interpolate(grid, scale_factor=2, mode="bilinear") (align_corners False).
        assertValues(try Tensor.interpolate(grid, .scale(2, 2), mode: .bilinear), [1, 1, 4, 4],
                     [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4], "bilinear x2")
        // align_corners True: sources at 0, 1/3, 2/3, 1.
        let t = Float(1) / 3
        assertValues(try Tensor.interpolate(grid, .size(4, 4), mode: .bilinear, alignCorners: true), [1, 1, 4, 4],
                     [1, 1 + t, 2 - t, 2, 1 + 2 * t, 1 + 3 * t, 2 + t, 2 + 2 * t,
                      3 - 2 * t, 3 - t, 3, 3 + t, 3, 3 + t, 4 - t, 4], "bilinear align corners")
        // A scale factor maps positions by 1/scale, not in/out: 3 columns, factor 1.5 → 4 columns
        // with sources (i + 0.5)/1.5 - 0.5 = 0 (clamped), 0.5, 7/6, 11/6.
        let row = Make.tensor([1, 1, 1, 3], [0, 1, 2])
        assertValues(try Tensor.interpolate(row, .scale(1, 1.5), mode: .bilinear), [1, 1, 1, 4], [0, 0.5, 7.0 / 6, 11.0 / 6], "scale 1.5")
        assertValues(try Tensor.interpolate(row, .size(1, 4), mode: .bilinear), [1, 1, 1, 4], [0, 0.625, 1.375, 2], "size 4")
        // One output pixel with align_corners reads the first input pixel.
        assertValues(try Tensor.interpolate(row, .size(1, 1), mode: .bilinear, alignCorners: true), [1, 1, 1, 1], [0], "to one pixel")
    }

    func testGradients() {
        let x = Make.normal([2, 3, 3, 4], seed: 1)
        let targets: [(String, InterpolationTarget)] = [("x2", .scale(2, 2)), ("size 5x7", .size(5, 7)),
                                                       ("down", .size(2, 2)), ("scale 1.5", .scale(1.5, 2.5))]
        for (name, target) in targets {
            gradCheck("interpolate nearest \(name)", [x], tolerance: 1e-3) { try Tensor.interpolate($0[0], target) }
            gradCheck("interpolate bilinear \(name)", [x], tolerance: 1e-3) { try Tensor.interpolate($0[0], target, mode: .bilinear) }
            gradCheck("interpolate bilinear align corners \(name)", [x], tolerance: 1e-3) {
                try Tensor.interpolate($0[0], target, mode: .bilinear, alignCorners: true)
            }
        }
    }

    func testErrors() {
        XCTAssertThrowsError(try Tensor.interpolate(Make.tensor([2, 2], [1, 2, 3, 4]), .scale(2, 2)))
        XCTAssertThrowsError(try Tensor.interpolate(grid, .size(0, 2)))
        XCTAssertThrowsError(try Tensor.interpolate(grid, .scale(0.1, 1))) { XCTAssertTrue("\($0)".contains("scale_factor"), "\($0)") }
        XCTAssertThrowsError(try Tensor.interpolate(grid, .scale(2, 2), alignCorners: true)) {
            XCTAssertTrue("\($0)".contains("align_corners"), "\($0)")
        }
    }
}
