import Tensor
import XCTest

/// The layers around the new ops: state-dict names as PyTorch's, forward values, gradients
/// through Normalize (the attacks differentiate through it).
final class NewLayerTests: XCTestCase {
    func testConvTranspose2dModule() throws {
        ParameterInit.seed(1)
        let m = try ConvTranspose2d(inChannels: 4, outChannels: 6, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1),
                                    outputPadding: (1, 1), groups: 2)
        XCTAssertEqual(m.stateDict().map(\.name), ["weight", "bias"])
        XCTAssertEqual(m.weight.shape, [4, 3, 3, 3], "PyTorch's (in, out/groups, kH, kW)")
        XCTAssertEqual(try m(try Tensor.zeros([2, 4, 5, 5])).shape, [2, 6, 10, 10])
        XCTAssertEqual(m.describe(), "ConvTranspose2d(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1), groups=2)")
        // PyTorch's bound 1/sqrt(fan_in) with fan_in = weight dimension 1 · kernel = 3 · 9.
        let bound = 1 / Float(27).squareRoot()
        XCTAssertTrue(m.weight.storage.allSatisfy { abs($0) <= bound })
        XCTAssertEqual(try ConvTranspose2d(inChannels: 2, outChannels: 2, kernelSize: (2, 2), bias: false).stateDict().map(\.name), ["weight"])
        XCTAssertThrowsError(try ConvTranspose2d(inChannels: 2, outChannels: 3, kernelSize: (2, 2), groups: 2))
        XCTAssertThrowsError(try ConvTranspose2d(inChannels: 2, outChannels: 2, kernelSize: (2, 2), stride: (2, 2), outputPadding: (2, 0)))
    }

    func testUpsample() throws {
        let x = Make.tensor([1, 1, 2, 2], [1, 2, 3, 4])
        let up = try Upsample(.scale(2, 2), mode: .bilinear)
        XCTAssertEqual(try up(x).shape, [1, 1, 4, 4])
        XCTAssertTrue(up.stateDict().isEmpty)
        XCTAssertEqual(up.describe(), "Upsample(scale_factor=(2.0, 2.0), mode='bilinear')")
        XCTAssertEqual(try Upsample(.size(3, 5))(x).shape, [1, 1, 3, 5])
        XCTAssertThrowsError(try Upsample(.scale(0, 1)))
        XCTAssertThrowsError(try Upsample(.size(2, 2), alignCorners: true))
    }

    func testActivations() throws {
        let x = Make.tensor([2, 2], [-2, 1, 0.5, -0.5])
        assertValues(try LeakyReLU(negativeSlope: 0.2)(x), [2, 2], [-0.4, 1, 0.5, -0.1], "leaky relu")
        assertValues(try LeakyReLU()(x), [2, 2], [-0.02, 1, 0.5, -0.005], "default slope 0.01")
        assertValues(try Sigmoid()(Make.tensor([1], [0])), [1], [0.5], "sigmoid")
        let rows = try Softmax(dim: 1)(x)
        XCTAssertEqual(rows.storage[0] + rows.storage[1], 1, accuracy: 1e-6)
        let columns = try Softmax(dim: -2)(x)
        XCTAssertEqual(columns.storage[0] + columns.storage[2], 1, accuracy: 1e-6)
        XCTAssertTrue(try Identity()(x) === x)
        XCTAssertEqual(try LeakyReLU(negativeSlope: 0.2).describe(), "LeakyReLU(negative_slope=0.2)")
    }

    func testNormalize() throws {
        let norm = try Normalize(mean: [0.5, 0.25], std: [0.5, 2])
        XCTAssertEqual(norm.stateDict().map(\.name), ["mean", "std"])
        XCTAssertTrue(norm.namedParameters().isEmpty, "buffers, not parameters")
        let x = Make.tensor([1, 2, 1, 2], [1, 0, 0.25, 2.25])
        assertValues(try norm(x), [1, 2, 1, 2], [1, -1, 0, 1], "per channel")
        // The state dict round-trips into a fresh layer.
        let other = try Normalize(mean: [0, 0], std: [1, 1])
        try other.loadStateDict(norm.stateDict())
        assertValues(try other(x), [1, 2, 1, 2], [1, -1, 0, 1], "loaded")
        gradCheck("normalize", [Make.normal([2, 2, 3, 3], seed: 4)], tolerance: 1e-3) { try norm($0[0]) }
        XCTAssertThrowsError(try norm(try Tensor.zeros([1, 3, 2, 2]))) { XCTAssertTrue("\($0)".contains("(N, 2, ...)"), "\($0)") }
        XCTAssertThrowsError(try Normalize(mean: [0.5], std: [0]))
        XCTAssertThrowsError(try Normalize(mean: [0.5, 0.5], std: [1]))
    }
}
