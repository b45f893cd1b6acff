import CDNNL

/// The eval-mode fusion on oneDNN: the convolution applies an eval-mode batch norm's affine map
/// (·scale + shift per channel) and a ReLU to its results as post-ops, while they are still in
/// its registers, instead of two more passes over the output.
///
/// The post-ops are a per-channel binary multiplication, a per-channel binary addition and
/// max(·, 0): the same operations in the same order as BatchNorm.swift's `x·scale + shift` and
/// ReLU's kernel, so the fused results equal the unfused ones to the bit. That holds for the
/// direct JIT kernels ("jit:…", "jit_1x1:…"), which accumulate as without post-ops and apply them
/// to the finished sums; a kernel that would compute differently with post-ops (the GEMM-based
/// one post-processes in its own way and rounds differently) is refused here, and the caller
/// then runs the convolution alone and the epilogue in a pass of its own.
extension OneDNNConvolution {
    /// conv(x, w) + b, then ·scale + shift per channel when `scale` and `shift` are given, then
    /// max(·, 0) when `relu`; into `out` (N, O, OH, OW). False when oneDNN cannot fuse this shape.
    static func fusedForward(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                             scale: UnsafePointer<Float>?, shift: UnsafePointer<Float>?, relu: Bool,
                             out: UnsafeMutablePointer<Float>) throws -> Bool {
        let affine = scale != nil && shift != nil
        guard affine || relu, let p = primitive(g, .fusedForward(batchNorm: affine, relu: relu), bias: bias != nil) else { return false }
        var ins = [UnsafeRawPointer(x), UnsafeRawPointer(weight)]
        if let bias { ins.append(UnsafeRawPointer(bias)) }
        if let scale, let shift { ins += [UnsafeRawPointer(scale), UnsafeRawPointer(shift)] }
        try p.run(inputs: ins, outputs: [UnsafeMutableRawPointer(out)], "conv2d (fused)")
        return true
    }

    /// The argument id of the second operand of post-op `index` (oneDNN's
    /// DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1, a macro Swift does not import).
    private static func postOpOperand(_ index: Int32) -> Int32 {
        DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE * (index + 1) | DNNL_ARG_SRC_1
    }

    static func fusedPrimitive(_ d: Descriptors, _ forwardDesc: inout dnnl_convolution_desc_t, outChannels: Int, bias: Bool,
                               batchNorm: Bool, relu: Bool) throws -> DNNLPrimitive {
        let channels = try OneDNN.plain([1, outChannels, 1, 1])
        let attr = try postOps(channels: batchNorm ? channels : nil, relu: relu)
        defer { dnnl_primitive_attr_destroy(attr) }
        let plain = try OneDNN.primitiveDescriptor(&forwardDesc, attr: nil, hint: nil, "conv2d")
        defer { dnnl_primitive_desc_destroy(plain) }
        let fused = try OneDNN.primitiveDescriptor(&forwardDesc, attr: attr, hint: nil, "conv2d (fused)")
        let kernel = implementation(fused)
        guard kernel == implementation(plain), kernel.hasPrefix("jit:") || kernel.hasPrefix("jit_1x1:") else {
            dnnl_primitive_desc_destroy(fused)
            throw TensorError("conv2d: oneDNN's kernel \(kernel) does not fuse exactly")
        }
        var inputs = [(DNNL_ARG_SRC, d.src), (DNNL_ARG_WEIGHTS, d.weights)]
        if bias { inputs.append((DNNL_ARG_BIAS, d.bias)) }
        if batchNorm { inputs += [(postOpOperand(0), channels), (postOpOperand(1), channels)] }
        return try DNNLPrimitive(fused, inputs: inputs, outputs: [(DNNL_ARG_DST, d.dst)])
    }

    /// The name of the kernel oneDNN chose, e.g. "jit:avx2".
    private static func implementation(_ pd: dnnl_primitive_desc_t) -> String {
        var name: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) == dnnl_success, let name else { return "" }
        return String(cString: name)
    }

    /// Attributes with the post-ops: ·scale and + shift with per-channel operands of size
    /// `channels` (when given), then max(·, 0) when `relu`.
    private static func postOps(channels: dnnl_memory_desc_t?, relu: Bool) throws -> dnnl_primitive_attr_t {
        var attr: dnnl_primitive_attr_t?
        try OneDNN.check(dnnl_primitive_attr_create(&attr), "conv2d: oneDNN attributes")
        guard let attr else { throw TensorError("conv2d: oneDNN made no attributes") }
        var ops: dnnl_post_ops_t?
        do {
            try OneDNN.check(dnnl_post_ops_create(&ops), "conv2d: oneDNN post-ops")
            defer { if let ops { dnnl_post_ops_destroy(ops) } }
            if var channels {
                try OneDNN.check(dnnl_post_ops_append_binary(ops, dnnl_binary_mul, &channels), "conv2d: oneDNN scale post-op")
                try OneDNN.check(dnnl_post_ops_append_binary(ops, dnnl_binary_add, &channels), "conv2d: oneDNN shift post-op")
            }
            if relu { try OneDNN.check(dnnl_post_ops_append_eltwise(ops, 1, dnnl_eltwise_relu, 0, 0), "conv2d: oneDNN ReLU post-op") }
            try OneDNN.check(dnnl_primitive_attr_set_post_ops(attr, ops), "conv2d: oneDNN post-ops")
        } catch {
            dnnl_primitive_attr_destroy(attr)
            throw error
        }
        return attr
    }
}
