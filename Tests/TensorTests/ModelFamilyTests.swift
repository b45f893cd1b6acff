import Tensor
import XCTest

/// UNet, SimpleCNN and the detector: output sizes, state-dict names, input errors, and the
/// input gradient an attack takes through them.
final class ModelFamilyTests: XCTestCase {
    /// The input gradient of a random projection of `model`'s output points downhill: a small
    /// signed step against it lowers the projection by about the step times the gradient's L1
    /// norm, as an attack's step relies on. (Finite differences through whole networks trip
    /// over ReLU and max-pooling kinks; each op has its own difference check.)
    func assertDescends(_ label: String, _ x: Tensor, file: StaticString = #filePath, line: UInt = #line,
                        _ model: (Tensor) throws -> Tensor) throws {
        x.requiresGrad = true
        let y = try model(x)
        let r = Make.normal(y.shape, seed: 77)
        let s = try (y * r).sum()
        let g = try grad(of: s, wrt: [x])[0]
        let l1 = g.storage.reduce(0) { $0 + abs($1) }
        XCTAssertGreaterThan(l1, 0, "\(label): zero input gradient", file: file, line: line)
        let h: Float = 1e-3
        let after = try withoutGrad { try (model(try x.detached() - g.sign() * h) * r).sum().item() }
        let drop = try s.item() - after
        XCTAssertGreaterThan(drop, 0.5 * h * l1, "\(label): a step against the gradient lowered the output by \(drop), expected about \(h * l1)",
                             file: file, line: line)
    }

    func testUNet() throws {
        ParameterInit.seed(2)
        let net = try UNet(inChannels: 1, numClasses: 3, width: 4, depth: 3)
        net.eval()
        XCTAssertEqual(try net(try Tensor.rand([2, 1, 16, 24], seed: 1)).shape, [2, 3, 16, 24])
        let names = net.stateDict().map(\.name)
        // milesial/Pytorch-UNet's names.
        for name in ["inc.double_conv.0.weight", "inc.double_conv.1.running_mean", "inc.double_conv.4.weight",
                     "down1.maxpool_conv.1.double_conv.0.weight", "down3.maxpool_conv.1.double_conv.3.weight",
                     "up1.up.weight", "up1.up.bias", "up1.conv.double_conv.0.weight", "up3.conv.double_conv.4.num_batches_tracked",
                     "outc.conv.weight", "outc.conv.bias"] {
            XCTAssertTrue(names.contains(name), "missing \(name)")
        }
        XCTAssertFalse(names.contains("inc.double_conv.0.bias"), "convolutions before batch norm have no bias")
        let params = Dictionary(uniqueKeysWithValues: net.stateDict().map { ($0.name, $0.tensor.shape) })
        XCTAssertEqual(params["down3.maxpool_conv.1.double_conv.0.weight"], [32, 16, 3, 3])
        XCTAssertEqual(params["up1.up.weight"], [32, 16, 2, 2])
        XCTAssertEqual(params["up1.conv.double_conv.0.weight"], [16, 32, 3, 3])
        XCTAssertEqual(params["outc.conv.weight"], [3, 4, 1, 1])
        XCTAssertThrowsError(try net(try Tensor.zeros([1, 1, 12, 16]))) {
            XCTAssertTrue("\($0)".contains("multiples of 8"), "\($0)")
        }
        XCTAssertThrowsError(try net(try Tensor.zeros([1, 2, 16, 16]))) { XCTAssertTrue("\($0)".contains("(N, 1, H, W)"), "\($0)") }
        XCTAssertThrowsError(try UNet(depth: 0))
        XCTAssertThrowsError(try UNet(width: 0))
        // The whole skip path carries the input gradient.
        try assertDescends("unet", Make.uniform([2, 1, 16, 16], seed: 3, 0, 1)) { try net($0) }
    }

    func testSimpleCNN() throws {
        ParameterInit.seed(3)
        let rgb = try SimpleCNN(inChannels: 3, numClasses: 5, width: 8, depth: 3)
        rgb.eval()
        XCTAssertEqual(try rgb(try Tensor.rand([4, 3, 64, 64], seed: 1)).shape, [4, 5])
        let gray = try SimpleCNN(inChannels: 1, numClasses: 10, width: 8, depth: 2,
                                 normalization: (mean: [0.2860], std: [0.3530]))
        gray.eval()
        XCTAssertEqual(try gray(try Tensor.rand([3, 1, 28, 28], seed: 2)).shape, [3, 10])
        XCTAssertEqual(gray.stateDict().map(\.name), [
            "normalize.mean", "normalize.std",
            "features.0.weight", "features.1.weight", "features.1.bias", "features.1.running_mean", "features.1.running_var",
            "features.1.num_batches_tracked",
            "features.4.weight", "features.5.weight", "features.5.bias", "features.5.running_mean", "features.5.running_var",
            "features.5.num_batches_tracked",
            "fc.weight", "fc.bias",
        ])
        XCTAssertEqual(gray.stateDict().last?.tensor.shape, [10], "fc.bias")
        XCTAssertEqual(gray.namedParameters().first { $0.name == "fc.weight" }?.tensor.shape, [10, 16])
        XCTAssertThrowsError(try rgb(try Tensor.zeros([1, 3, 4, 4]))) { XCTAssertTrue("\($0)".contains("at least 8"), "\($0)") }
        XCTAssertThrowsError(try SimpleCNN(inChannels: 3, normalization: (mean: [0.5], std: [0.5])))
        try assertDescends("simple cnn", Make.uniform([2, 1, 28, 28], seed: 4, 0, 1)) { try gray($0) }
    }

    func testDetector() throws {
        ParameterInit.seed(4)
        let det = try Detector(inChannels: 3, numClasses: 5, width: 4)
        det.eval()
        let x = try Tensor.rand([2, 3, 32, 48], seed: 1)
        let heads = try det.heads(x)
        XCTAssertEqual(heads.heatmap.shape, [2, 5, 8, 12])
        XCTAssertEqual(heads.size.shape, [2, 2, 8, 12])
        XCTAssertEqual(heads.offset.shape, [2, 2, 8, 12])
        let joined = try det(x)
        XCTAssertEqual(joined.shape, [2, 9, 8, 12])
        let split = try DetectorHeads(concatenated: joined, numClasses: 5)
        XCTAssertEqual(split.offset.storage, heads.offset.storage)
        let names = det.stateDict().map(\.name)
        for name in ["stem.0.weight", "layer1.3.weight", "layer3.4.running_var", "up1.0.weight", "up2.1.weight",
                     "hm.0.weight", "hm.2.bias", "wh.2.weight", "reg.2.bias"] {
            XCTAssertTrue(names.contains(name), "missing \(name)")
        }
        let params = Dictionary(uniqueKeysWithValues: det.stateDict().map { ($0.name, $0.tensor) })
        XCTAssertEqual(params["hm.2.bias"]?.storage, [Float](repeating: -2.19, count: 5), "CenterNet's heatmap bias")
        XCTAssertEqual(params["wh.2.bias"]?.storage, [0, 0])
        XCTAssertEqual(params["up1.0.weight"]?.shape, [32, 16, 2, 2])
        XCTAssertThrowsError(try det(try Tensor.zeros([1, 3, 40, 32]))) { XCTAssertTrue("\($0)".contains("multiples of 16"), "\($0)") }
        XCTAssertThrowsError(try Detector(numClasses: 0))
        XCTAssertThrowsError(try DetectorHeads(concatenated: joined, numClasses: 4))
        try assertDescends("detector", Make.uniform([1, 3, 32, 32], seed: 5, 0, 1)) { try det($0) }
    }
}
