public final class Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?

    public init(inFeatures: Int, outFeatures: Int, bias: Bool = true) throws {
        guard inFeatures > 0, outFeatures > 0 else {
            throw TensorError("Linear: features must be positive, got \(inFeatures) -> \(outFeatures)")
        }
        _ = try checkedCount([outFeatures, inFeatures])
        weight = ParameterInit.defaultWeight([outFeatures, inFeatures])
        self.bias = bias ? ParameterInit.uniform([outFeatures], bound: 1 / Float(inFeatures).squareRoot()) : nil
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try Tensor.linear(x, weight: weight, bias: bias)
    }

    public override var optionsDescription: String {
        "in_features=\(weight.shape[1]), out_features=\(weight.shape[0]), bias=\(bias != nil)"
    }
}
