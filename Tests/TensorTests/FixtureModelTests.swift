import Tensor
import TestSupport
import XCTest

/// Whole networks against PyTorch on the same weights.
final class FixtureModelTests: XCTestCase {
    func testLogitsMatchPyTorch() throws {
        for name in Fixtures.names {
            let (model, expected) = try Fixtures.model(name)
            let logits = try model(expected["x"]!)
            XCTAssertEqual(logits.shape, expected["logits"]!.shape, name)
            XCTAssertLessThan(maxScaledDifference(logits, expected["logits"]!), 1e-4, name)
        }
    }

    func testCrossEntropyInputGradientMatchesPyTorch() throws {
        for name in Fixtures.names {
            let (model, expected) = try Fixtures.model(name)
            let x = expected["x"]!.detached()
            x.requiresGrad = true
            let loss = try Tensor.crossEntropy(model(x), expected["y"]!)
            XCTAssertEqual(try loss.item(), try expected["ce_loss"]!.item(), accuracy: 1e-4, name)
            let g = try grad(of: loss, wrt: [x])[0]
            XCTAssertLessThan(relativeL2(g, expected["ce_grad_x"]!), 1e-4, name)
        }
    }

    func testGaussianBlurMatchesPyTorch() throws {
        for name in Fixtures.names {
            let expected = try Fixtures.load("\(name).expected.safetensors")
            let blurred = try Tensor.gaussianBlur(expected["x"]!, size: 5, sigma: 1)
            XCTAssertLessThan(maxScaledDifference(blurred, expected["gauss_blur_x"]!), 1e-5, name)
        }
    }

    func testStrictLoadingNamesEveryProblem() throws {
        let model = try Fixtures.smallCNN()
        var entries = try SafeTensors.read(path: Fixtures.path("smallcnn_c1_28x28_k10_s2.weights.safetensors")).tensors
        entries.removeAll { $0.name == "0.bias" }
        entries.append((name: "extra.weight", tensor: try Tensor.zeros([1])))
        if let i = entries.firstIndex(where: { $0.name == "11.weight" }) {
            entries[i] = (name: "11.weight", tensor: try Tensor.zeros([3, 3]))
        }
        XCTAssertThrowsError(try model.loadStateDict(entries)) { error in
            let message = (error as? TensorError)?.message ?? ""
            XCTAssertTrue(message.contains("missing keys: 0.bias"), message)
            XCTAssertTrue(message.contains("unexpected keys: extra.weight"), message)
            XCTAssertTrue(message.contains("11.weight (expected 10x64, got 3x3)"), message)
        }
    }

    func testResNetStateDictHasTorchvisionKeys() throws {
        let names = Set(try ResNet(depth: .r50, numClasses: 7, inChannels: 1).stateDict().map(\.name))
        for key in ["conv1.weight", "bn1.running_var", "layer1.0.conv3.weight", "layer1.0.downsample.0.weight",
                    "layer4.2.bn3.num_batches_tracked", "fc.weight", "fc.bias"] {
            XCTAssertTrue(names.contains(key), key)
        }
        XCTAssertEqual(try ResNet(depth: .r34).stateDict().filter { $0.name.hasSuffix("num_batches_tracked") }.count, 36)
    }
}
