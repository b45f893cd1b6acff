import Foundation
import Tensor

/// The PyTorch reference fixtures in `Tests/Data/fixtures` (its README says how they were made).
public enum Fixtures {
    public static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Tests/TestSupport
        .deletingLastPathComponent()  // Tests
        .appendingPathComponent("Data/fixtures")

    public static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    public static func load(_ name: String) throws -> [String: Tensor] {
        Dictionary(try SafeTensors.read(path: path(name)).tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
    }

    /// The fixture small CNN, as its README lists it.
    public static func smallCNN() throws -> Sequential {
        Sequential([
            try Conv2d(inChannels: 1, outChannels: 16, kernelSize: (3, 3), padding: (1, 1)),
            try BatchNorm2d(numFeatures: 16), ReLU(), MaxPool2d(Pool2dOptions(kernel: (2, 2))),
            try Conv2d(inChannels: 16, outChannels: 32, kernelSize: (3, 3), padding: (1, 1)),
            try BatchNorm2d(numFeatures: 32), ReLU(), MaxPool2d(Pool2dOptions(kernel: (2, 2))),
            Flatten(), try Linear(inFeatures: 1568, outFeatures: 64), ReLU(), try Linear(inFeatures: 64, outFeatures: 10),
        ])
    }

    /// A model with its fixture weights, in eval mode, and the expected outputs.
    public static func model(_ name: String) throws -> (Module, [String: Tensor]) {
        let model: Module = name.hasPrefix("resnet18") ? try ResNet(depth: .r18, numClasses: 5, inChannels: 3) : try smallCNN()
        try model.loadStateDict(try SafeTensors.read(path: path("\(name).weights.safetensors")).tensors)
        model.eval()
        return (model, try load("\(name).expected.safetensors"))
    }

    public static let names = ["smallcnn_c1_28x28_k10_s2", "resnet18_c3_64x64_k5_s1"]
}

/// Largest difference, absolute for values up to 1 in size and relative above.
public func maxScaledDifference(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.storage, b.storage).map { Swift.abs($0 - $1) / Swift.max(1, Swift.abs($1)) }.max() ?? 0
}

/// ||a - b|| / ||b||.
public func relativeL2(_ a: Tensor, _ b: Tensor) -> Float {
    let diff = zip(a.storage, b.storage).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
    let norm = b.storage.map { $0 * $0 }.reduce(0, +)
    return (diff / Swift.max(norm, 1e-30)).squareRoot()
}
