/// ResNet-18/34/50 as torchvision builds them (v1.5: the stride sits on the 3x3 convolution of
/// a bottleneck), with torchvision's parameter names and initialization.

private func conv3x3(_ inC: Int, _ outC: Int, stride: Int = 1) throws -> Conv2d {
    try Conv2d(inChannels: inC, outChannels: outC, kernelSize: (3, 3), stride: (stride, stride), padding: (1, 1), bias: false)
}

private func conv1x1(_ inC: Int, _ outC: Int, stride: Int = 1) throws -> Conv2d {
    try Conv2d(inChannels: inC, outChannels: outC, kernelSize: (1, 1), stride: (stride, stride), bias: false)
}

/// The shortcut when the shape changes: 1x1 convolution and batch norm.
private func downsample(_ inC: Int, _ outC: Int, stride: Int) throws -> Sequential? {
    guard stride != 1 || inC != outC else { return nil }
    return Sequential([try conv1x1(inC, outC, stride: stride), try BatchNorm2d(numFeatures: outC)])
}

public final class BasicBlock: Module {
    static let expansion = 1
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d
    let shortcut: Sequential?

    init(_ inC: Int, _ planes: Int, stride: Int) throws {
        conv1 = try conv3x3(inC, planes, stride: stride)
        bn1 = try BatchNorm2d(numFeatures: planes)
        conv2 = try conv3x3(planes, planes)
        bn2 = try BatchNorm2d(numFeatures: planes)
        shortcut = try downsample(inC, planes, stride: stride)
        super.init()
        registerChild("conv1", conv1); registerChild("bn1", bn1)
        registerChild("conv2", conv2); registerChild("bn2", bn2)
        if let shortcut { registerChild("downsample", shortcut) }
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        let y = try runChain([("conv1", conv1), ("bn1", bn1), ("relu", ReLU.shared)], x)
        let identity = try shortcut.map { try run($0, named: "downsample", x) } ?? x
        return try runResidual(("conv2", conv2), ("bn2", bn2), y, adding: identity)
    }
}

public final class Bottleneck: Module {
    static let expansion = 4
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d, conv3: Conv2d, bn3: BatchNorm2d
    let shortcut: Sequential?

    init(_ inC: Int, _ planes: Int, stride: Int) throws {
        conv1 = try conv1x1(inC, planes)
        bn1 = try BatchNorm2d(numFeatures: planes)
        conv2 = try conv3x3(planes, planes, stride: stride)
        bn2 = try BatchNorm2d(numFeatures: planes)
        conv3 = try conv1x1(planes, planes * Bottleneck.expansion)
        bn3 = try BatchNorm2d(numFeatures: planes * Bottleneck.expansion)
        shortcut = try downsample(inC, planes * Bottleneck.expansion, stride: stride)
        super.init()
        registerChild("conv1", conv1); registerChild("bn1", bn1)
        registerChild("conv2", conv2); registerChild("bn2", bn2)
        registerChild("conv3", conv3); registerChild("bn3", bn3)
        if let shortcut { registerChild("downsample", shortcut) }
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        var y = try runChain([("conv1", conv1), ("bn1", bn1), ("relu", ReLU.shared)], x)
        y = try runChain([("conv2", conv2), ("bn2", bn2), ("relu", ReLU.shared)], y)
        let identity = try shortcut.map { try run($0, named: "downsample", x) } ?? x
        return try runResidual(("conv3", conv3), ("bn3", bn3), y, adding: identity)
    }
}

public final class ResNet: Module {
    public enum Depth: Int { case r18 = 18, r34 = 34, r50 = 50 }
    public let depth: Depth
    let stem: [Module]
    let inputConv: Conv2d
    let stages: [Sequential]
    let fc: Linear

    public init(depth: Depth, numClasses: Int = 1000, inChannels: Int = 3) throws {
        guard numClasses > 0 else { throw TensorError("resnet\(depth.rawValue): num_classes must be positive, got \(numClasses)") }
        guard inChannels > 0 else { throw TensorError("resnet\(depth.rawValue): in_channels must be positive, got \(inChannels)") }
        self.depth = depth
        let blocks: [Int] = depth == .r18 ? [2, 2, 2, 2] : [3, 4, 6, 3]
        let bottleneck = depth == .r50
        let expansion = bottleneck ? Bottleneck.expansion : BasicBlock.expansion
        let conv1 = try Conv2d(inChannels: inChannels, outChannels: 64, kernelSize: (7, 7), stride: (2, 2), padding: (3, 3), bias: false)
        inputConv = conv1
        stem = [conv1, try BatchNorm2d(numFeatures: 64), ReLU(), MaxPool2d(Pool2dOptions(kernel: (3, 3), stride: (2, 2), padding: (1, 1)))]
        var inC = 64
        var stages: [Sequential] = []
        for (i, count) in blocks.enumerated() {
            let planes = 64 << i
            var layer: [Module] = []
            for b in 0..<count {
                let stride = b == 0 && i > 0 ? 2 : 1
                layer.append(bottleneck ? try Bottleneck(inC, planes, stride: stride) : try BasicBlock(inC, planes, stride: stride))
                inC = planes * expansion
            }
            stages.append(Sequential(layer))
        }
        self.stages = stages
        fc = try Linear(inFeatures: 512 * expansion, outFeatures: numClasses)
        super.init()
        for (name, m) in zip(["conv1", "bn1", "relu", "maxpool"], stem) { registerChild(name, m) }
        for (i, s) in stages.enumerated() { registerChild("layer\(i + 1)", s) }
        registerChild("avgpool", try AdaptiveAvgPool2d(outputSize: (1, 1)))
        registerChild("fc", fc)
        // torchvision: kaiming_normal (fan_out) for convolutions; batch norm at 1 and 0.
        for (name, t) in namedParameters() where t.rank == 4 && name.hasSuffix("weight") {
            t.storage = ParameterInit.kaimingNormalFanOut(t.shape).storage
        }
    }

    public override var typeName: String { "ResNet\(depth.rawValue)" }

    public override func forward(_ x: Tensor) throws -> Tensor {
        let channels = inputConv.weight.shape[1]
        guard x.rank == 4, x.shape[1] == channels else {
            throw TensorError("\(typeName): expected input of size (N, \(channels), H, W), got \(describeShape(x.shape))")
        }
        let y = try runChain(children.filter { $0.name != "fc" }, x)
        return try run(fc, named: "fc", y.flattened(from: 1))
    }
}
