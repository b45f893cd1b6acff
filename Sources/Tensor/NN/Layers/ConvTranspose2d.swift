/// PyTorch's `ConvTranspose2d`: weight (in, out/groups, kH, kW), bias (out), and PyTorch's
/// default initialization (its fan-in is computed from weight dimension 1, i.e. out/groups).
public final class ConvTranspose2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let options: ConvTranspose2dOptions

    public init(inChannels: Int, outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
                groups: Int = 1, bias: Bool = true) throws {
        try checkConvolutionLayer("ConvTranspose2d", inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize, groups: groups)
        guard stride.0 > 0, stride.1 > 0, dilation.0 > 0, dilation.1 > 0, padding.0 >= 0, padding.1 >= 0 else {
            throw TensorError("ConvTranspose2d: stride and dilation must be positive and padding >= 0")
        }
        guard outputPadding.0 >= 0, outputPadding.1 >= 0,
              outputPadding.0 < max(stride.0, dilation.0), outputPadding.1 < max(stride.1, dilation.1) else {
            throw TensorError("ConvTranspose2d: output_padding (\(outputPadding.0), \(outputPadding.1)) must be >= 0 and smaller than stride or dilation")
        }
        options = ConvTranspose2dOptions(stride: stride, padding: padding, outputPadding: outputPadding,
                                         dilation: dilation, groups: groups)
        let shape = [inChannels, outChannels / groups, kernelSize.0, kernelSize.1]
        weight = ParameterInit.defaultWeight(shape)
        self.bias = bias ? ParameterInit.uniform([outChannels], bound: 1 / Float(ParameterInit.fanIn(shape)).squareRoot()) : nil
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try Tensor.convTranspose2d(x, weight: weight, bias: bias, options: options)
    }

    public override var optionsDescription: String {
        let s = weight.shape
        var parts = ["\(s[0]), \(s[1] * options.groups), kernel_size=(\(s[2]), \(s[3]))"]
        if options.stride != (1, 1) { parts.append("stride=(\(options.stride.0), \(options.stride.1))") }
        if options.padding != (0, 0) { parts.append("padding=(\(options.padding.0), \(options.padding.1))") }
        if options.outputPadding != (0, 0) { parts.append("output_padding=(\(options.outputPadding.0), \(options.outputPadding.1))") }
        if options.dilation != (1, 1) { parts.append("dilation=(\(options.dilation.0), \(options.dilation.1))") }
        if options.groups != 1 { parts.append("groups=\(options.groups)") }
        if bias == nil { parts.append("bias=False") }
        return parts.joined(separator: ", ")
    }
}
