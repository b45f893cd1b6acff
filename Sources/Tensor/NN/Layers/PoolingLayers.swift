public final class MaxPool2d: Module {
    public let options: Pool2dOptions
    public init(_ options: Pool2dOptions) {
        self.options = options
        super.init()
    }
    public override func forward(_ x: Tensor) throws -> Tensor { try Tensor.maxPool2d(x, options) }
    public override var optionsDescription: String { poolDescription(options) }
}

public final class AvgPool2d: Module {
    public let options: Pool2dOptions
    public init(_ options: Pool2dOptions) {
        self.options = options
        super.init()
    }
    public override func forward(_ x: Tensor) throws -> Tensor { try Tensor.avgPool2d(x, options) }
    public override var optionsDescription: String { poolDescription(options) }
}

public final class AdaptiveAvgPool2d: Module {
    public let outputSize: (Int, Int)
    public init(outputSize: (Int, Int)) throws {
        guard outputSize.0 > 0, outputSize.1 > 0 else {
            throw TensorError("AdaptiveAvgPool2d: output size must be positive, got \(outputSize.0)x\(outputSize.1)")
        }
        self.outputSize = outputSize
        super.init()
    }
    public override func forward(_ x: Tensor) throws -> Tensor { try Tensor.adaptiveAvgPool2d(x, outputSize: outputSize) }
    public override var optionsDescription: String { "output_size=(\(outputSize.0), \(outputSize.1))" }
}

private func poolDescription(_ o: Pool2dOptions) -> String {
    "kernel_size=(\(o.kernel.0), \(o.kernel.1)), stride=(\(o.stride.0), \(o.stride.1)), padding=(\(o.padding.0), \(o.padding.1))"
}
