/// A compact anchor-free single-stage detector in the style of CenterNet (Zhou et al., "Objects
/// as Points", 2019): a small encoder down to 1/16 of the input, transposed convolutions back
/// to 1/4 with the encoder's features added on the way, and three heads on the 1/4 map with
/// CenterNet's names:
///
/// - `hm`: class heatmap logits (num_classes channels); a peak marks an object's centre;
/// - `wh`: box width and height in feature-map cells (input pixels / 4), as CenterNet;
/// - `reg`: the centre's offset within its cell, x then y, in cells (in [0, 1) for a target).
///
/// `forward` returns the heads concatenated on the channel axis, (N, num_classes + 4, H/4, W/4),
/// one differentiable tensor for attack losses; `heads(_:)` gives them apart. Targets, the
/// detection loss and decoding to boxes live with the attacks (Attacks/Detection), which own
/// the box type.
public final class Detector: Module {
    /// Input pixels per feature-map cell.
    public static let stride = 4
    /// Input sides must be multiples of this (the encoder's deepest map is 1/16).
    public static let sizeMultiple = 16
    /// CenterNet's heatmap bias: sigmoid(-2.19) ≈ 0.1, a calm start for the focal loss.
    public static let heatmapBiasInit: Float = -2.19

    static let encoderNames = ["stem", "layer1", "layer2", "layer3"]

    public let inChannels: Int
    public let numClasses: Int
    public let width: Int
    let encoder: [Sequential]
    let decoder: [Sequential]
    let hm: Sequential, wh: Sequential, reg: Sequential

    public init(inChannels: Int = 3, numClasses: Int = 1, width: Int = 16) throws {
        guard inChannels > 0 else { throw TensorError("detector: in_channels must be positive, got \(inChannels)") }
        guard numClasses > 0 else { throw TensorError("detector: num_classes must be positive, got \(numClasses)") }
        guard width > 0, width <= 512 else { throw TensorError("detector: width must be in 1...512, got \(width)") }
        self.inChannels = inChannels
        self.numClasses = numClasses
        self.width = width
        func conv(_ i: Int, _ o: Int, stride s: Int = 1) throws -> [Module] {
            [try Conv2d(inChannels: i, outChannels: o, kernelSize: (3, 3), stride: (s, s), padding: (1, 1), bias: false),
             try BatchNorm2d(numFeatures: o), ReLU()]
        }
        // 1/2, 1/4, 1/8, 1/16 with 1, 2, 4, 8 times the width.
        encoder = [
            Sequential(try conv(inChannels, width, stride: 2)),
            Sequential(try conv(width, 2 * width, stride: 2) + conv(2 * width, 2 * width)),
            Sequential(try conv(2 * width, 4 * width, stride: 2) + conv(4 * width, 4 * width)),
            Sequential(try conv(4 * width, 8 * width, stride: 2) + conv(8 * width, 8 * width)),
        ]
        func up(_ i: Int, _ o: Int) throws -> Sequential {
            Sequential([try ConvTranspose2d(inChannels: i, outChannels: o, kernelSize: (2, 2), stride: (2, 2), bias: false),
                        try BatchNorm2d(numFeatures: o), ReLU()])
        }
        decoder = [try up(8 * width, 4 * width), try up(4 * width, 2 * width)]
        let featureChannels = 2 * width, headChannels = max(2 * width, 32)
        func head(_ out: Int) throws -> Sequential {
            Sequential([try Conv2d(inChannels: featureChannels, outChannels: headChannels, kernelSize: (3, 3), padding: (1, 1)),
                        ReLU(), try Conv2d(inChannels: headChannels, outChannels: out, kernelSize: (1, 1))])
        }
        hm = try head(numClasses)
        wh = try head(2)
        reg = try head(2)
        super.init()
        for (i, s) in encoder.enumerated() { registerChild(Detector.encoderNames[i], s) }
        for (i, s) in decoder.enumerated() { registerChild("up\(i + 1)", s) }
        registerChild("hm", hm)
        registerChild("wh", wh)
        registerChild("reg", reg)
        // CenterNet: the heatmap starts near 0.1 everywhere, the regressions at 0.
        for (head, bias) in [(hm, Detector.heatmapBiasInit), (wh, 0), (reg, 0)] {
            if let last = head[2] as? Conv2d, let b = last.bias {
                for i in 0..<b.count { b.storage[i] = bias }
            }
        }
    }

    public override var optionsDescription: String {
        "in_channels=\(inChannels), num_classes=\(numClasses), width=\(width)"
    }

    /// The three head outputs for (N, in_channels, H, W) input, H and W multiples of 16.
    public func heads(_ x: Tensor) throws -> DetectorHeads {
        guard x.rank == 4, x.shape[1] == inChannels else {
            throw TensorError("Detector: expected input of size (N, \(inChannels), H, W), got \(describeShape(x.shape))")
        }
        let m = Detector.sizeMultiple
        guard x.shape[2] > 0, x.shape[3] > 0, x.shape[2] % m == 0, x.shape[3] % m == 0 else {
            throw TensorError("Detector: height and width must be multiples of \(m), got \(x.shape[2])x\(x.shape[3])")
        }
        var features: [Tensor] = []
        var y = x
        for (i, stage) in encoder.enumerated() {
            y = try run(stage, named: Detector.encoderNames[i], y)
            features.append(y)
        }
        // Up from 1/16 to 1/8 and 1/4, adding the encoder's map of the same size.
        for (i, stage) in decoder.enumerated() {
            y = try run(stage, named: "up\(i + 1)", y) + features[encoder.count - 2 - i]
        }
        return try DetectorHeads(heatmap: try run(hm, named: "hm", y), size: try run(wh, named: "wh", y),
                             offset: try run(reg, named: "reg", y))
    }

    public override func forward(_ x: Tensor) throws -> Tensor { try heads(x).concatenated() }
}

/// The outputs of a `Detector`, each (N, channels, H/4, W/4).
public struct DetectorHeads {
    /// Class heatmap logits, (N, num_classes, h, w).
    public var heatmap: Tensor
    /// Box width and height in feature-map cells, (N, 2, h, w).
    public var size: Tensor
    /// Centre offset within the cell, x then y, (N, 2, h, w).
    public var offset: Tensor

    public init(heatmap: Tensor, size: Tensor, offset: Tensor) throws {
        guard heatmap.rank == 4, heatmap.shape[1] > 0 else {
            throw TensorError("detector heads: expected a heatmap of size (N, classes, h, w), got \(describeShape(heatmap.shape))")
        }
        var two = heatmap.shape
        two[1] = 2
        guard size.shape == two, offset.shape == two else {
            throw TensorError("detector heads: expected size and offset of size \(describeShape(two)) for heatmap \(describeShape(heatmap.shape)), got \(describeShape(size.shape)) and \(describeShape(offset.shape))")
        }
        self.heatmap = heatmap
        self.size = size
        self.offset = offset
    }

    /// Splits `forward`'s output (N, num_classes + 4, h, w) back into the heads.
    public init(concatenated t: Tensor, numClasses: Int) throws {
        guard t.rank == 4, numClasses > 0, t.shape[1] == numClasses + 4 else {
            throw TensorError("detector heads: expected (N, \(numClasses + 4), h, w) for \(numClasses) classes, got \(describeShape(t.shape))")
        }
        try self.init(heatmap: t.slice(dim: 1, start: 0, end: numClasses),
                      size: t.slice(dim: 1, start: numClasses, end: numClasses + 2),
                      offset: t.slice(dim: 1, start: numClasses + 2, end: numClasses + 4))
    }

    public var numClasses: Int { heatmap.shape[1] }

    /// Heatmap, size and offset channels in one tensor.
    public func concatenated() throws -> Tensor { try Tensor.cat([heatmap, size, offset], dim: 1) }
}
