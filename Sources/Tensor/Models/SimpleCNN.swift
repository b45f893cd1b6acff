/// A small classifier sized for the CPU: `depth` stages of (3x3 convolution, batch norm, ReLU,
/// 2x2 max pooling), channels `width · 2^i` in stage i, then global average pooling and a
/// linear layer. State-dict names: `normalize.mean` (when given), `features.0.weight`, ...,
/// `fc.weight`. With width 16 and depth 3 a 64x64 RGB image costs about 11 M multiply-adds.
public final class SimpleCNN: Module {
    public let inChannels: Int
    public let numClasses: Int
    public let width: Int
    public let depth: Int
    let normalize: Normalize?
    let features: Sequential
    let fc: Linear

    /// `normalization`: per-channel mean and std applied first, so the model takes [0, 1] images.
    public init(inChannels: Int = 3, numClasses: Int = 10, width: Int = 16, depth: Int = 3,
                normalization: (mean: [Float], std: [Float])? = nil) throws {
        guard inChannels > 0 else { throw TensorError("simple_cnn: in_channels must be positive, got \(inChannels)") }
        guard numClasses > 0 else { throw TensorError("simple_cnn: num_classes must be positive, got \(numClasses)") }
        guard width > 0 else { throw TensorError("simple_cnn: width must be positive, got \(width)") }
        guard (1...8).contains(depth) else { throw TensorError("simple_cnn: depth must be in 1...8, got \(depth)") }
        guard width <= 4096 >> (depth - 1) else {
            throw TensorError("simple_cnn: width \(width) with depth \(depth) gives more than 4096 channels")
        }
        self.inChannels = inChannels
        self.numClasses = numClasses
        self.width = width
        self.depth = depth
        if let normalization {
            guard normalization.mean.count == inChannels else {
                throw TensorError("simple_cnn: expected \(inChannels) normalization means (one per input channel), got \(normalization.mean.count)")
            }
            normalize = try Normalize(mean: normalization.mean, std: normalization.std)
        } else {
            normalize = nil
        }
        var layers: [Module] = []
        var c = inChannels
        for i in 0..<depth {
            let out = width << i
            layers += [try Conv2d(inChannels: c, outChannels: out, kernelSize: (3, 3), padding: (1, 1), bias: false),
                       try BatchNorm2d(numFeatures: out), ReLU(), MaxPool2d(Pool2dOptions(kernel: (2, 2)))]
            c = out
        }
        features = Sequential(layers)
        fc = try Linear(inFeatures: c, outFeatures: numClasses)
        super.init()
        if let normalize { registerChild("normalize", normalize) }
        registerChild("features", features)
        registerChild("pool", try AdaptiveAvgPool2d(outputSize: (1, 1)))
        registerChild("fc", fc)
    }

    public override var optionsDescription: String {
        "in_channels=\(inChannels), num_classes=\(numClasses), width=\(width), depth=\(depth)"
    }

    /// (N, in_channels, H, W) with sides of at least 2^depth → (N, num_classes) logits.
    public override func forward(_ x: Tensor) throws -> Tensor {
        let smallest = 1 << depth
        guard x.rank == 4, x.shape[1] == inChannels else {
            throw TensorError("SimpleCNN: expected input of size (N, \(inChannels), H, W), got \(describeShape(x.shape))")
        }
        guard x.shape[2] >= smallest, x.shape[3] >= smallest else {
            throw TensorError("SimpleCNN: height and width must be at least \(smallest) (2^depth, depth \(depth)), got \(x.shape[2])x\(x.shape[3])")
        }
        var y = x
        for child in children where child.name != "fc" { y = try run(child.module, named: child.name, y) }
        return try run(fc, named: "fc", y.flattened(from: 1))
    }
}
