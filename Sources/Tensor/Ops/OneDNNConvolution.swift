import CDNNL

/// 2-D convolution on oneDNN: the forward pass (also with the ReLU after it fused,
/// OneDNNFusedConvolution.swift), the input gradient, and the weight and bias gradients.
/// Each returns nil when oneDNN cannot do the shape (the caller then runs the im2col kernels of
/// Convolution.swift) and throws when running fails.
enum OneDNNConvolution {
    enum Pass: Hashable { case forward, inputGradient, weightGradient, forwardReLU }

    struct Key: Hashable {
        let pass: Pass
        let sizes: [Int]
        let bias: Bool
        let threads: Int32
    }

    private static let cache = DNNLPrimitiveCache<Key>()

    /// y = conv(x, w) + b into `out` (N, O, OH, OW), then `epilogue` applied to it when given:
    /// on the way out of oneDNN's channel-blocked layout, one pass instead of two.
    static func forward(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                        out: UnsafeMutablePointer<Float>, epilogue: ConvolutionEpilogue? = nil) throws -> Bool {
        guard let p = primitive(g, .forward, bias: bias != nil) else { return false }
        var ins = [UnsafeRawPointer(x), UnsafeRawPointer(weight)]
        if let bias { ins.append(UnsafeRawPointer(bias)) }
        let copy = epilogue.map { e in
            { (blocked: UnsafePointer<Float>, layout: ChannelBlockedLayout) in
                e.apply(fromBlocked: blocked, layout, into: out, samples: g.n, channels: g.o, inner: g.oh * g.ow)
            }
        }
        let applied = try p.run(inputs: ins, outputs: [UnsafeMutableRawPointer(out)], copyingOutOfBlocks: copy, "conv2d")
        if let epilogue, !applied { epilogue.apply(to: out, outer: g.n, channels: g.o, inner: g.oh * g.ow) }
        return true
    }

    /// dx from dy, into `dx` (N, C, H, W).
    static func inputGradient(_ g: ConvGeometry, gradOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                              into dx: UnsafeMutablePointer<Float>) throws -> Bool {
        guard let p = primitive(g, .inputGradient, bias: false) else { return false }
        try p.run(inputs: [UnsafeRawPointer(gradOutput), UnsafeRawPointer(weight)], outputs: [UnsafeMutableRawPointer(dx)],
                  "conv2d backward (input)")
        return true
    }

    /// dx into `dx` (N, C, H, W) from dy made by `fill` straight into oneDNN's blocked layout;
    /// false when oneDNN does not take dy blocked for this shape (nothing is run then).
    static func inputGradient(_ g: ConvGeometry, weight: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>,
                              fillingGradOutput fill: (UnsafeMutablePointer<Float>, ChannelBlockedLayout) -> Void) throws -> Bool {
        guard let p = primitive(g, .inputGradient, bias: false), p.takesFirstInputBlocked else { return false }
        // dy's own pointer is not read: `fill` writes dy.
        try withoutActuallyEscaping(fill) { fill in
            _ = try p.run(inputs: [UnsafeRawPointer(weight), UnsafeRawPointer(weight)], outputs: [UnsafeMutableRawPointer(dx)],
                          fillingFirstInput: fill, "conv2d backward (input)")
        }
        return true
    }

    /// dw (and db when `db` is given) from x and dy.
    static func weightGradient(_ g: ConvGeometry, x: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                               into dw: UnsafeMutablePointer<Float>, bias db: UnsafeMutablePointer<Float>?) throws -> Bool {
        guard let p = primitive(g, .weightGradient, bias: db != nil) else { return false }
        var outs = [UnsafeMutableRawPointer(dw)]
        if let db { outs.append(UnsafeMutableRawPointer(db)) }
        try p.run(inputs: [UnsafeRawPointer(x), UnsafeRawPointer(gradOutput)], outputs: outs, "conv2d backward (weight)")
        return true
    }

    static func primitive(_ g: ConvGeometry, _ pass: Pass, bias: Bool) -> DNNLPrimitive? {
        guard OneDNN.enabled, OneDNN.engine != nil else { return nil }
        let sizes = [g.n, g.c, g.h, g.w, g.o, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.groups]
        let threads = OneDNNThreads.forConvolution(g)
        return cache.primitive(Key(pass: pass, sizes: sizes, bias: bias, threads: threads)) {
            omp_set_num_threads(threads)
            return try make(g, pass, bias: bias, threads: threads)
        }
    }

    /// The sizes as oneDNN takes them: grouped weights with the group first; dilation counted
    /// from 0; the right padding that gives PyTorch's output size (it may be less than the left).
    struct Descriptors {
        let src, weights, bias, dst: dnnl_memory_desc_t
        let anySrc, anyWeights, anyDst: dnnl_memory_desc_t
        let strides, dilates, padL, padR: [Int64]

        init(_ g: ConvGeometry) throws {
            let w = g.groups == 1 ? [g.o, g.c, g.kh, g.kw] : [g.groups, g.og, g.cg, g.kh, g.kw]
            src = try OneDNN.plain([g.n, g.c, g.h, g.w])
            weights = try OneDNN.plain(w)
            bias = try OneDNN.plain([g.o])
            dst = try OneDNN.plain([g.n, g.o, g.oh, g.ow])
            anySrc = try OneDNN.anyLayout([g.n, g.c, g.h, g.w])
            anyWeights = try OneDNN.anyLayout(w)
            anyDst = try OneDNN.anyLayout([g.n, g.o, g.oh, g.ow])
            strides = dnnlDims([g.sh, g.sw])
            dilates = dnnlDims([g.dh - 1, g.dw - 1])
            padL = dnnlDims([g.ph, g.pw])
            padR = dnnlDims([(g.oh - 1) * g.sh + g.dh * (g.kh - 1) + 1 - g.h - g.ph,
                             (g.ow - 1) * g.sw + g.dw * (g.kw - 1) + 1 - g.w - g.pw])
        }

        /// The forward descriptor (training: the backward passes take it as their hint).
        func forward(bias withBias: Bool) throws -> dnnl_convolution_desc_t {
            var desc = dnnl_convolution_desc_t()
            var (s, wt, b, d) = (anySrc, anyWeights, bias, anyDst)
            let status = withUnsafePointer(to: &b) { biasDesc in
                dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_training, dnnl_convolution_direct,
                                                           &s, &wt, withBias ? biasDesc : nil, &d, strides, dilates, padL, padR)
            }
            try OneDNN.check(status, "conv2d: oneDNN convolution")
            return desc
        }
    }

    private static func make(_ g: ConvGeometry, _ pass: Pass, bias: Bool, threads: Int32) throws -> DNNLPrimitive {
        let d = try Descriptors(g)
        var forwardDesc = try d.forward(bias: bias && pass != .inputGradient && pass != .weightGradient)
        switch pass {
        case .forwardReLU:
            return try reluPrimitive(d, &forwardDesc, bias: bias, threads: threads)
        case .forward:
            let pd = try OneDNN.primitiveDescriptor(&forwardDesc, attr: nil, hint: nil, "conv2d")
            return try DNNLPrimitive(pd, threads: threads, inputs: [(DNNL_ARG_SRC, d.src), (DNNL_ARG_WEIGHTS, d.weights)] + (bias ? [(DNNL_ARG_BIAS, d.bias)] : []),
                                     outputs: [(DNNL_ARG_DST, d.dst)])
        case .inputGradient:
            let hint = try OneDNN.primitiveDescriptor(&forwardDesc, attr: nil, hint: nil, "conv2d")
            defer { dnnl_primitive_desc_destroy(hint) }
            var desc = dnnl_convolution_desc_t()
            var (s, wt, dst) = (d.anySrc, d.anyWeights, d.anyDst)
            try OneDNN.check(dnnl_dilated_convolution_backward_data_desc_init(&desc, dnnl_convolution_direct, &s, &wt, &dst,
                                                                              d.strides, d.dilates, d.padL, d.padR),
                             "conv2d: oneDNN convolution backward (input)")
            let pd = try OneDNN.primitiveDescriptor(&desc, attr: nil, hint: hint, "conv2d backward")
            return try DNNLPrimitive(pd, threads: threads, inputs: [(DNNL_ARG_DIFF_DST, d.dst), (DNNL_ARG_WEIGHTS, d.weights)],
                                     outputs: [(DNNL_ARG_DIFF_SRC, d.src)])
        case .weightGradient:
            let hint = try OneDNN.primitiveDescriptor(&forwardDesc, attr: nil, hint: nil, "conv2d")
            defer { dnnl_primitive_desc_destroy(hint) }
            var desc = dnnl_convolution_desc_t()
            var (s, wt, b, dst) = (d.anySrc, d.anyWeights, d.bias, d.anyDst)
            let status = withUnsafePointer(to: &b) { biasDesc in
                dnnl_dilated_convolution_backward_weights_desc_init(&desc, dnnl_convolution_direct, &s, &wt, bias ? biasDesc : nil, &dst,
                                                                    d.strides, d.dilates, d.padL, d.padR)
            }
            try OneDNN.check(status, "conv2d: oneDNN convolution backward (weight)")
            let pd = try OneDNN.primitiveDescriptor(&desc, attr: nil, hint: hint, "conv2d backward")
            return try DNNLPrimitive(pd, threads: threads, inputs: [(DNNL_ARG_SRC, d.src), (DNNL_ARG_DIFF_DST, d.dst)],
                                     outputs: [(DNNL_ARG_DIFF_WEIGHTS, d.weights)] + (bias ? [(DNNL_ARG_DIFF_BIAS, d.bias)] : []))
        }
    }
}
