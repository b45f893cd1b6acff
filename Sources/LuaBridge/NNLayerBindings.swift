import CLua
import CLuaShim
import Tensor

/// `smia.nn`: the resizing and transposed-convolution layers, the small activation and
/// normalization layers, and the functional `interpolate`, `conv_transpose2d` and `focal_loss`.
extension NNBindings {
    static let layerFunctional: [(String, LuaBody)] = [
        ("conv_transpose2d", { a in
            let x = try a.tensor(1), w = try a.tensor(2)
            // conv_transpose2d(x, w[, b][, options]), as conv2d.
            let biasGiven = TensorBox.get(a.L, 3) != nil || a.isNil(3)
            let bias = biasGiven ? try a.optionalTensor(3) : nil
            let o = try LuaOptions(a, biasGiven ? 4 : 3, names: ["stride", "padding", "output_padding", "dilation", "groups"])
            let options = ConvTranspose2dOptions(stride: try o.pair("stride", default: (1, 1)),
                                                 padding: try o.pair("padding", default: (0, 0)),
                                                 outputPadding: try o.pair("output_padding", default: (0, 0)),
                                                 dilation: try o.pair("dilation", default: (1, 1)),
                                                 groups: try o.integer("groups", default: 1))
            return a.push(try Tensor.convTranspose2d(x, weight: w, bias: bias, options: options))
        }),
        ("interpolate", { a in
            let x = try a.tensor(1)
            let o = try LuaOptions(a, 2, names: ["size", "scale_factor", "mode", "align_corners"], required: true)
            let (target, mode, corners) = try interpolation(a, o)
            return a.push(try Tensor.interpolate(x, target, mode: mode, alignCorners: corners))
        }),
        ("focal_loss", { a in
            // focal_loss(logits, target[, reduction | {alpha, beta, reduction}])
            let logits = try a.tensor(1), target = try a.tensor(2)
            var alpha = 2.0, beta = 4.0
            let name: String?
            if a.type(3) == LUA_TTABLE {
                let o = try LuaOptions(a, 3, names: ["alpha", "beta", "reduction"])
                alpha = try o.number("alpha") ?? alpha
                beta = try o.number("beta") ?? beta
                name = try o.string("reduction")
            } else {
                name = try a.optionalString(3)
            }
            let reduction = try name.map { n -> Reduction in
                guard let r = Reduction(rawValue: n) else { throw a.error(3, "reduction must be 'mean', 'sum' or 'none', got '\(n)'") }
                return r
            } ?? .mean
            return a.push(try Tensor.focalLoss(logits, target, alpha: Float(alpha), beta: Float(beta), reduction: reduction))
        }),
    ]

    /// `{size = | scale_factor = , mode = 'nearest' | 'bilinear', align_corners = }`: exactly
    /// one of size and scale_factor.
    private static func interpolation(_ a: LuaArgs, _ o: LuaOptions) throws -> (InterpolationTarget, InterpolationMode, Bool) {
        let size = try o.pair("size"), scale = try o.numberPair("scale_factor")
        let target: InterpolationTarget
        switch (size, scale) {
        case let (s?, nil): target = .size(s.0, s.1)
        case let (nil, f?): target = .scale(f.0, f.1)
        case (nil, nil): throw a.error(o.index ?? 1, "one of the options 'size' and 'scale_factor' is required")
        default: throw a.error(o.index ?? 1, "options 'size' and 'scale_factor' exclude each other")
        }
        let modeName = try o.string("mode", default: "nearest")
        guard let mode = InterpolationMode(rawValue: modeName) else {
            throw a.error(o.index ?? 1, "option 'mode': expected 'nearest' or 'bilinear', got '\(modeName)'")
        }
        return (target, mode, try o.boolean("align_corners", default: false))
    }

    static let layerConstructors: [(String, LuaBody)] = [
        ("ConvTranspose2d", { a in
            let o = try LuaOptions(a, 1, names: ["in_channels", "out_channels", "kernel_size", "stride", "padding",
                                                 "output_padding", "dilation", "groups", "bias"],
                                   positional: ["in_channels", "out_channels", "kernel_size", "stride", "padding"],
                                   required: true)
            guard let kernel = try o.pair("kernel_size") else { throw a.error(1, "option 'kernel_size' is required") }
            return a.push(try ConvTranspose2d(inChannels: o.positive("in_channels"), outChannels: o.positive("out_channels"),
                                              kernelSize: kernel, stride: o.pair("stride", default: (1, 1)),
                                              padding: o.pair("padding", default: (0, 0)),
                                              outputPadding: o.pair("output_padding", default: (0, 0)),
                                              dilation: o.pair("dilation", default: (1, 1)),
                                              groups: o.positive("groups", default: 1), bias: o.boolean("bias", default: true)))
        }),
        ("Upsample", { a in
            let o = try LuaOptions(a, 1, names: ["size", "scale_factor", "mode", "align_corners"], required: true)
            let (target, mode, corners) = try interpolation(a, o)
            return a.push(try Upsample(target, mode: mode, alignCorners: corners))
        }),
        ("LeakyReLU", { a in
            let o = try LuaOptions(a, 1, names: ["negative_slope"], positional: ["negative_slope"])
            return a.push(try LeakyReLU(negativeSlope: Float(o.number("negative_slope", default: 0.01))))
        }),
        ("Sigmoid", { a in
            _ = try LuaOptions(a, 1, names: [])
            return a.push(Sigmoid())
        }),
        ("Softmax", { a in
            // dim is 1-based (negative from the end) like every dimension in Lua.
            let o = try LuaOptions(a, 1, names: ["dim"], positional: ["dim"], required: true)
            guard let d = try o.integer("dim") else { throw a.error(1, "option 'dim' is required") }
            guard d != 0 else { throw a.error(1, "option 'dim': dimensions count from 1 (or -1 for the last), got 0") }
            return a.push(Softmax(dim: d > 0 ? d - 1 : d))
        }),
        ("Identity", { a in
            _ = try LuaOptions(a, 1, names: [])
            return a.push(Identity())
        }),
        ("Normalize", { a in
            let o = try LuaOptions(a, 1, names: ["mean", "std"], required: true)
            guard let mean = try o.numbers("mean") else { throw a.error(1, "option 'mean' is required") }
            guard let std = try o.numbers("std") else { throw a.error(1, "option 'std' is required") }
            return a.push(try Normalize(mean: mean.map(Float.init), std: std.map(Float.init)))
        }),
    ]
}
