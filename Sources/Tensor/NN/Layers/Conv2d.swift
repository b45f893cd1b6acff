public final class Conv2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let options: Conv2dOptions

    public init(inChannels: Int, outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true) throws {
        try checkConvolutionLayer("Conv2d", inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize, groups: groups)
        options = Conv2dOptions(stride: stride, padding: padding, dilation: dilation, groups: groups)
        let shape = [outChannels, inChannels / groups, kernelSize.0, kernelSize.1]
        weight = ParameterInit.defaultWeight(shape)
        self.bias = bias ? ParameterInit.uniform([outChannels], bound: 1 / Float(ParameterInit.fanIn(shape)).squareRoot()) : nil
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try Tensor.conv2d(x, weight: weight, bias: bias, options: options)
    }

    public override var optionsDescription: String {
        let s = weight.shape
        var parts = ["\(s[1] * options.groups), \(s[0]), kernel_size=(\(s[2]), \(s[3]))"]
        if options.stride != (1, 1) { parts.append("stride=(\(options.stride.0), \(options.stride.1))") }
        if options.padding != (0, 0) { parts.append("padding=(\(options.padding.0), \(options.padding.1))") }
        if options.dilation != (1, 1) { parts.append("dilation=(\(options.dilation.0), \(options.dilation.1))") }
        if options.groups != 1 { parts.append("groups=\(options.groups)") }
        if bias == nil { parts.append("bias=False") }
        return parts.joined(separator: ", ")
    }
}

/// The checks a convolution layer (plain or transposed) makes of its sizes, with its name in
/// the message.
func checkConvolutionLayer(_ layer: String, inChannels: Int, outChannels: Int, kernelSize: (Int, Int), groups: Int) throws {
    guard inChannels > 0, outChannels > 0, kernelSize.0 > 0, kernelSize.1 > 0 else {
        throw TensorError("\(layer): channels and kernel size must be positive, got \(inChannels) -> \(outChannels), kernel \(kernelSize.0)x\(kernelSize.1)")
    }
    guard groups > 0, inChannels % groups == 0, outChannels % groups == 0 else {
        throw TensorError("\(layer): groups (\(groups)) must divide in_channels (\(inChannels)) and out_channels (\(outChannels))")
    }
    // The weight holds in * out / groups * kH * kW values (for both layers).
    _ = try checkedCount([inChannels, outChannels / groups, kernelSize.0, kernelSize.1])
}
