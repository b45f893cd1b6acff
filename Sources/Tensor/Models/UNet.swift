/// U-Net (Ronneberger et al. 2015) with the module layout and state-dict names of the widely used
/// PyTorch implementation milesial/Pytorch-UNet (`inc.double_conv.0.weight`,
/// `down1.maxpool_conv.1.double_conv.0.weight`, `up1.up.weight`, `outc.conv.weight`), its
/// transposed-convolution variant, with the width and the number of down steps as options.
/// Channels: `width · 2^i` after down step i; the head is a 1x1 convolution to class logits.

/// (3x3 convolution without bias, batch norm, ReLU) twice, as `double_conv.0` ... `double_conv.5`.
public final class DoubleConv: Module {
    let block: Sequential

    init(_ inC: Int, _ outC: Int) throws {
        block = Sequential([
            try Conv2d(inChannels: inC, outChannels: outC, kernelSize: (3, 3), padding: (1, 1), bias: false),
            try BatchNorm2d(numFeatures: outC), ReLU(),
            try Conv2d(inChannels: outC, outChannels: outC, kernelSize: (3, 3), padding: (1, 1), bias: false),
            try BatchNorm2d(numFeatures: outC), ReLU(),
        ])
        super.init()
        registerChild("double_conv", block)
    }

    public override func forward(_ x: Tensor) throws -> Tensor { try run(block, named: "double_conv", x) }
}

/// 2x2 max pooling, then a double convolution: `maxpool_conv.0` (pool), `maxpool_conv.1`.
public final class UNetDown: Module {
    let block: Sequential

    init(_ inC: Int, _ outC: Int) throws {
        block = Sequential([MaxPool2d(Pool2dOptions(kernel: (2, 2))), try DoubleConv(inC, outC)])
        super.init()
        registerChild("maxpool_conv", block)
    }

    public override var typeName: String { "Down" }
    public override func forward(_ x: Tensor) throws -> Tensor { try run(block, named: "maxpool_conv", x) }
}

/// A 2x2 stride-2 transposed convolution halving the channels (`up`), concatenation after the
/// skip connection's features, a double convolution (`conv`).
public final class UNetUp: Module {
    let up: ConvTranspose2d
    let conv: DoubleConv

    init(_ inC: Int, _ outC: Int) throws {
        up = try ConvTranspose2d(inChannels: inC, outChannels: inC / 2, kernelSize: (2, 2), stride: (2, 2))
        conv = try DoubleConv(inC, outC)
        super.init()
        registerChild("up", up)
        registerChild("conv", conv)
    }

    public override var typeName: String { "Up" }

    func forward(_ x: Tensor, skip: Tensor) throws -> Tensor {
        let upsampled = try run(up, named: "up", x)
        return try run(conv, named: "conv", Tensor.cat([skip, upsampled], dim: 1))
    }
}

/// The 1x1 convolution to class logits, as `conv`.
public final class UNetOut: Module {
    let conv: Conv2d

    init(_ inC: Int, _ classes: Int) throws {
        conv = try Conv2d(inChannels: inC, outChannels: classes, kernelSize: (1, 1))
        super.init()
        registerChild("conv", conv)
    }

    public override var typeName: String { "OutConv" }
    public override func forward(_ x: Tensor) throws -> Tensor { try run(conv, named: "conv", x) }
}

public final class UNet: Module {
    public let inChannels: Int
    public let numClasses: Int
    public let width: Int
    public let depth: Int
    let inc: DoubleConv
    let downs: [UNetDown]
    let ups: [UNetUp]
    let outc: UNetOut

    /// `depth` down steps (1...8); inputs need sides divisible by 2^depth.
    public init(inChannels: Int = 1, numClasses: Int = 2, width: Int = 16, depth: Int = 3) throws {
        guard inChannels > 0 else { throw TensorError("unet: in_channels must be positive, got \(inChannels)") }
        guard numClasses > 0 else { throw TensorError("unet: num_classes must be positive, got \(numClasses)") }
        guard width > 0 else { throw TensorError("unet: width must be positive, got \(width)") }
        guard (1...8).contains(depth) else { throw TensorError("unet: depth must be in 1...8, got \(depth)") }
        guard width <= 4096 >> depth else {
            throw TensorError("unet: width \(width) with depth \(depth) gives more than 4096 channels at the bottom")
        }
        self.inChannels = inChannels
        self.numClasses = numClasses
        self.width = width
        self.depth = depth
        inc = try DoubleConv(inChannels, width)
        downs = try (1...depth).map { try UNetDown(width << ($0 - 1), width << $0) }
        ups = try (1...depth).map { try UNetUp(width << (depth - $0 + 1), width << (depth - $0)) }
        outc = try UNetOut(width, numClasses)
        super.init()
        registerChild("inc", inc)
        for (i, d) in downs.enumerated() { registerChild("down\(i + 1)", d) }
        for (i, u) in ups.enumerated() { registerChild("up\(i + 1)", u) }
        registerChild("outc", outc)
    }

    public override var optionsDescription: String {
        "in_channels=\(inChannels), num_classes=\(numClasses), width=\(width), depth=\(depth)"
    }

    /// (N, in_channels, H, W) → (N, num_classes, H, W) logits.
    public override func forward(_ x: Tensor) throws -> Tensor {
        let step = 1 << depth
        guard x.rank == 4, x.shape[1] == inChannels else {
            throw TensorError("UNet: expected input of size (N, \(inChannels), H, W), got \(describeShape(x.shape))")
        }
        guard x.shape[2] > 0, x.shape[3] > 0, x.shape[2] % step == 0, x.shape[3] % step == 0 else {
            throw TensorError("UNet: height and width must be multiples of \(step) (2^depth, depth \(depth)), got \(x.shape[2])x\(x.shape[3])")
        }
        var skips = [try run(inc, named: "inc", x)]
        for (i, d) in downs.enumerated() { skips.append(try run(d, named: "down\(i + 1)", skips[i])) }
        var y = skips.removeLast()
        for (i, u) in ups.enumerated() {
            let skip = skips.removeLast()
            do {
                y = try u.forward(y, skip: skip)
            } catch let error as TensorError {
                throw TensorError("\(typeName).up\(i + 1) (\(u.typeName)): \(error.message)")
            }
        }
        return try run(outc, named: "outc", y)
    }
}
