import Tensor
import XCTest

/// The input gradient of 3×3 convolutions by Winograd's method: against finite differences, and
/// against the other kernels on small shapes and on a ResNet-sized layer.
final class WinogradTests: XCTestCase {
    private let defaults = (WinogradConvolution.minimumChannels, WinogradConvolution.minimumChannelTiles)

    override func tearDown() {
        WinogradConvolution.enabled = true
        (WinogradConvolution.minimumChannels, WinogradConvolution.minimumChannelTiles) = defaults
    }

    /// Every shape through this path, however small.
    private func takeAllShapes() {
        (WinogradConvolution.minimumChannels, WinogradConvolution.minimumChannelTiles) = (1, 1)
    }

    private static func opts(_ padding: Int) -> Conv2dOptions { Conv2dOptions(padding: (padding, padding)) }

    /// Odd and even sides (tiles cut off at the edge), every padding the path takes, and rows of
    /// 4 tiles and more (the vector code) with tiles left over (the scalar code).
    private let shapes: [(input: [Int], weight: [Int], padding: Int)] = [
        ([2, 3, 5, 5], [4, 3, 3, 3], 1),
        ([1, 2, 13, 22], [3, 2, 3, 3], 1),
        ([1, 2, 6, 7], [3, 2, 3, 3], 0),
        ([2, 2, 4, 5], [2, 2, 3, 3], 2),
        ([1, 5, 9, 8], [6, 5, 3, 3], 1),
        ([1, 1, 3, 3], [1, 1, 3, 3], 0),
    ]

    func testInputGradientsByFiniteDifferences() {
        takeAllShapes()
        for (i, s) in shapes.enumerated() {
            let x = Make.normal(s.input, seed: UInt64(40 + i)), w = Make.normal(s.weight, seed: UInt64(50 + i), scale: 0.5)
            let b = Make.normal([s.weight[0]], seed: UInt64(60 + i))
            gradCheck("winograd conv2d \(s.input) padding \(s.padding) input only", [x, w, b], wrt: [0], tolerance: 1e-3) {
                try Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], options: Self.opts(s.padding))
            }
            gradCheck("winograd conv2d \(s.input) padding \(s.padding)", [x, w, b], tolerance: 1e-3) {
                try Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], options: Self.opts(s.padding))
            }
        }
    }

    /// The input gradient of sum(conv(x) · r) with the path on and off (oneDNN or im2col).
    private func inputGradients(_ x: Tensor, _ w: Tensor, padding: Int, seed: UInt64) throws -> (winograd: [Float], other: [Float]) {
        let r = Make.normal(try Tensor.conv2d(x, weight: w, bias: nil, options: Self.opts(padding)).shape, seed: seed)
        let both = try [true, false].map { on -> [Float] in
            WinogradConvolution.enabled = on
            let leaf = try Tensor(shape: x.shape, storage: x.storage)
            leaf.requiresGrad = true
            let y = try Tensor.conv2d(leaf, weight: w, bias: nil, options: Self.opts(padding))
            return try grad(of: (y * r).sum(), wrt: [leaf])[0].storage
        }
        return (both[0], both[1])
    }

    /// Rounding differs by a few units in the last place of the terms summed: 36 values of the
    /// transforms around a product of `channels` terms, relative to the largest gradient.
    private func assertAgree(_ a: [Float], _ b: [Float], channels: Int, _ label: String) {
        let scale = b.map(abs).max() ?? 0
        let err = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertGreaterThan(scale, 0, label)
        XCTAssertLessThanOrEqual(err, Float(64 * channels) * Float.ulpOfOne * scale, label)
    }

    func testSmallShapesAgreeWithTheOtherKernels() throws {
        takeAllShapes()
        for (i, s) in shapes.enumerated() {
            let x = Make.normal(s.input, seed: UInt64(10 + i)), w = Make.normal(s.weight, seed: UInt64(20 + i), scale: 0.5)
            let g = try inputGradients(x, w, padding: s.padding, seed: UInt64(30 + i))
            assertAgree(g.winograd, g.other, channels: s.weight[0], "input \(s.input) padding \(s.padding)")
        }
    }

    /// A layer of ResNet-18's third stage at the default thresholds (batch 8: 128 tiles).
    func testAResNetLayerAgreesWithTheOtherKernels() throws {
        let x = Make.normal([8, 128, 14, 14], seed: 70), w = Make.normal([128, 128, 3, 3], seed: 71, scale: 0.05)
        let g = try inputGradients(x, w, padding: 1, seed: 72)
        assertAgree(g.winograd, g.other, channels: 128, "128 channels, 14x14")
        XCTAssertTrue(g.winograd != g.other, "the rounding of Winograd's method, so this path ran")
    }

    /// A layer of ResNet-18's first stage at the default thresholds: one image at a time, rows of
    /// 14 tiles.
    func testImagesInGroupsAgreeWithTheOtherKernels() throws {
        let x = Make.normal([3, 64, 56, 56], seed: 73), w = Make.normal([64, 64, 3, 3], seed: 74, scale: 0.05)
        let g = try inputGradients(x, w, padding: 1, seed: 75)
        assertAgree(g.winograd, g.other, channels: 64, "64 channels, 56x56, 3 images")
        XCTAssertTrue(g.winograd != g.other, "the rounding of Winograd's method, so this path ran")
    }

    /// The transformed filters are kept between calls; weights changed in place must not meet
    /// the filters of their old values.
    func testWeightsChangedInPlaceGiveNewGradients() throws {
        takeAllShapes()
        let x = Make.normal([1, 2, 6, 6], seed: 80), w = Make.normal([2, 2, 3, 3], seed: 81)
        let before = try inputGradients(x, w, padding: 1, seed: 82)
        try w.assign(try w * 2)
        let after = try inputGradients(x, w, padding: 1, seed: 82)
        assertAgree(after.winograd, after.other, channels: 2, "after the change")
        assertAgree(after.winograd, before.winograd.map { 2 * $0 }, channels: 2, "twice the weights")
    }
}
