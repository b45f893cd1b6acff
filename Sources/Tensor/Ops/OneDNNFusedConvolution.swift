import CDNNL

/// A convolution with the ReLU after it on oneDNN: max(·, 0) as a post-op, applied to the
/// results while they are still in the convolution's registers instead of in another pass.
///
/// Only where the result is exactly the convolution's and then ReLU's: the direct JIT kernels
/// ("jit:…", "jit_1x1:…") accumulate as without the post-op and apply it to the finished sums.
/// Another kernel (the GEMM-based one post-processes in its own way) is refused here, and the
/// caller runs the convolution alone and the ReLU in a pass of its own.
///
/// An eval-mode batch norm between them is not a post-op: oneDNN 2.6's per-channel binary
/// post-ops (·scale, + shift) gave the same values but slowed the JIT kernels of ResNet's
/// shapes by 5-70% and the small CNN's first convolution fourfold (measured alone, one thread),
/// more than the pass they save. ConvolutionFusion.swift applies it after the convolution.
extension OneDNNConvolution {
    /// max(conv(x, w) + b, 0) into `out` (N, O, OH, OW). False when oneDNN cannot fuse this shape.
    static func forwardReLU(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                            out: UnsafeMutablePointer<Float>) throws -> Bool {
        guard let p = primitive(g, .forwardReLU, bias: bias != nil) else { return false }
        var ins = [UnsafeRawPointer(x), UnsafeRawPointer(weight)]
        if let bias { ins.append(UnsafeRawPointer(bias)) }
        try p.run(inputs: ins, outputs: [UnsafeMutableRawPointer(out)], "conv2d (with relu)")
        return true
    }

    static func reluPrimitive(_ d: Descriptors, _ forwardDesc: inout dnnl_convolution_desc_t, bias: Bool, threads: Int32) throws -> DNNLPrimitive {
        let attr = try reluAttribute()
        defer { dnnl_primitive_attr_destroy(attr) }
        let plain = try OneDNN.primitiveDescriptor(&forwardDesc, attr: nil, hint: nil, "conv2d")
        defer { dnnl_primitive_desc_destroy(plain) }
        let fused = try OneDNN.primitiveDescriptor(&forwardDesc, attr: attr, hint: nil, "conv2d (with relu)")
        let kernel = implementation(fused)
        guard kernel == implementation(plain), kernel.hasPrefix("jit:") || kernel.hasPrefix("jit_1x1:") else {
            dnnl_primitive_desc_destroy(fused)
            throw TensorError("conv2d: oneDNN's kernel \(kernel) does not fuse the ReLU exactly")
        }
        return try DNNLPrimitive(fused, threads: threads, inputs: [(DNNL_ARG_SRC, d.src), (DNNL_ARG_WEIGHTS, d.weights)] + (bias ? [(DNNL_ARG_BIAS, d.bias)] : []),
                                 outputs: [(DNNL_ARG_DST, d.dst)])
    }

    /// The name of the kernel oneDNN chose, e.g. "jit:avx2".
    private static func implementation(_ pd: dnnl_primitive_desc_t) -> String {
        var name: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) == dnnl_success, let name else { return "" }
        return String(cString: name)
    }

    /// Attributes that apply max(·, 0) to the result inside the convolution (oneDNN's ReLU with
    /// slope 0 takes the maximum with 0, so NaN gives 0, as ReLU's kernel).
    private static func reluAttribute() throws -> dnnl_primitive_attr_t {
        var attr: dnnl_primitive_attr_t?
        try OneDNN.check(dnnl_primitive_attr_create(&attr), "conv2d: oneDNN attributes")
        guard let attr else { throw TensorError("conv2d: oneDNN made no attributes") }
        var ops: dnnl_post_ops_t?
        do {
            try OneDNN.check(dnnl_post_ops_create(&ops), "conv2d: oneDNN post-ops")
            defer { if let ops { dnnl_post_ops_destroy(ops) } }
            try OneDNN.check(dnnl_post_ops_append_eltwise(ops, 1, dnnl_eltwise_relu, 0, 0), "conv2d: oneDNN ReLU post-op")
            try OneDNN.check(dnnl_primitive_attr_set_post_ops(attr, ops), "conv2d: oneDNN post-ops")
        } catch {
            dnnl_primitive_attr_destroy(attr)
            throw error
        }
        return attr
    }
}
