import CDNNL
import Foundation

/// oneDNN (Debian's libdnnl, the library PyTorch's own CPU convolutions run on): the engine, the
/// cache of primitives per shape, and running one primitive on our row-major tensors.
///
/// oneDNN picks its kernel for the CPU at run time (AVX2, AVX-512, ... or plain SSE4.1) and,
/// given the freedom, a blocked memory layout of its own for the fastest one. A `DNNLPrimitive`
/// remembers the layouts it chose and reorders our tensors into them and back. Creating a
/// primitive costs milliseconds (it generates code), so each is made once per shape: an attack
/// runs the same shapes every step.
///
/// Failures never crash: a shape oneDNN does not support makes the caller fall back to the
/// kernels of our own (the cache remembers it as unsupported); a failure while running (out of
/// memory) is a thrown error. Buffers for the blocked layouts are checked against the memory
/// budget before they are allocated.
public enum OneDNN {
    /// Whether convolutions run on oneDNN: on unless `SMIA_ONEDNN=0`.
    /// The tests turn it off to compare with the kernels of our own.
    public static var enabled = ProcessInfo.processInfo.environment["SMIA_ONEDNN"] != "0"

    /// The CPU engine, or nil when oneDNN cannot make one (then nothing runs on it).
    static let engine: dnnl_engine_t? = {
        var engine: dnnl_engine_t?
        return dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success ? engine : nil
    }()

    /// oneDNN's version, "2.6.3".
    public static var version: String {
        guard let v = dnnl_version()?.pointee else { return "unknown" }
        return "\(v.major).\(v.minor).\(v.patch)"
    }

    /// The instruction set oneDNN's kernels use on this CPU, as oneDNN names it.
    public static var instructionSet: String {
        let names: [(dnnl_cpu_isa_t, String)] = [
            (dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"), (dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"),
            (dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"), (dnnl_cpu_isa_avx512_core, "avx512_core"),
            (dnnl_cpu_isa_avx512_mic_4ops, "avx512_mic_4ops"), (dnnl_cpu_isa_avx512_mic, "avx512_mic"),
            (dnnl_cpu_isa_avx2_vnni, "avx2_vnni"), (dnnl_cpu_isa_avx2, "avx2"), (dnnl_cpu_isa_avx, "avx"),
            (dnnl_cpu_isa_sse41, "sse41"),
        ]
        let isa = dnnl_get_effective_cpu_isa()
        return names.first { $0.0 == isa }?.1 ?? "generic"
    }

    /// Throws unless `status` is success; `what` names the step ("conv2d: oneDNN convolution").
    static func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) throws {
        guard status == dnnl_success else { throw TensorError("\(what()) failed (oneDNN status \(status.rawValue))") }
    }

    /// The primitive descriptor for operation descriptor `op` (the caller destroys it).
    static func primitiveDescriptor(_ op: UnsafeRawPointer, attr: dnnl_primitive_attr_t?, hint: dnnl_primitive_desc_t?,
                                    _ what: String) throws -> dnnl_primitive_desc_t {
        var pd: dnnl_primitive_desc_t?
        try check(dnnl_primitive_desc_create(&pd, op, attr, engine, hint), "\(what): oneDNN primitive descriptor")
        guard let pd else { throw TensorError("\(what): oneDNN made no primitive descriptor") }
        return pd
    }

    /// A row-major float32 memory descriptor of size `dims`.
    static func plain(_ dims: [Int]) throws -> dnnl_memory_desc_t {
        try describe(dims, tag: plainTag(dims.count))
    }

    /// A descriptor of size `dims` whose layout the primitive chooses.
    static func anyLayout(_ dims: [Int]) throws -> dnnl_memory_desc_t {
        try describe(dims, tag: dnnl_format_tag_any)
    }

    private static func plainTag(_ rank: Int) -> dnnl_format_tag_t {
        [dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde][Swift.max(0, Swift.min(rank, 5) - 1)]
    }

    private static func describe(_ dims: [Int], tag: dnnl_format_tag_t) throws -> dnnl_memory_desc_t {
        var desc = dnnl_memory_desc_t()
        let d = dnnlDims(dims)
        try check(d.withUnsafeBufferPointer { dnnl_memory_desc_init_by_tag(&desc, Int32(dims.count), $0.baseAddress, dnnl_f32, tag) },
                  "oneDNN memory descriptor of size \(describeShape(dims))")
        return desc
    }
}

/// The 12 dimensions oneDNN's `dnnl_dims_t` holds, from the first values of `values`.
func dnnlDims(_ values: [Int]) -> [Int64] {
    var d = [Int64](repeating: 0, count: 12)
    for (i, v) in values.prefix(12).enumerated() { d[i] = Int64(v) }
    return d
}

/// Primitives made once per key, and keys oneDNN cannot do (nil), shared by all threads.
final class DNNLPrimitiveCache<Key: Hashable> {
    private var entries: [Key: DNNLPrimitive?] = [:]
    private let lock = NSLock()
    /// Enough for the shapes of several models; past it the cache starts over.
    private let limit = 512

    /// The primitive for `key`, made by `make` the first time; nil when `make` failed for it.
    func primitive(_ key: Key, _ make: () throws -> DNNLPrimitive) -> DNNLPrimitive? {
        lock.lock()
        defer { lock.unlock() }
        if let known = entries[key] { return known }
        if entries.count >= limit { entries.removeAll() }
        let made = try? make()
        entries[key] = made
        return made
    }
}

/// One oneDNN primitive for one shape, with the layouts it chose for its arguments and the
/// reorders between them and our row-major layouts.
final class DNNLPrimitive {
    /// One argument: our layout (`plain`), the primitive's (`inner`), and the reorder between
    /// them (plain to inner for an input, inner to plain for an output) when they differ.
    struct Argument {
        let id: Int32
        let plain: dnnl_memory_desc_t
        let inner: dnnl_memory_desc_t
        let reorder: dnnl_primitive_t?
        /// `inner` as a channel-blocked layout of an (N, C, H, W) tensor, when it is one.
        let blocked: ChannelBlockedLayout?
        var innerBytes: Int { dnnl_memory_desc_get_size([inner]) }
        /// The values of the argument, as our layout holds them.
        var values: Int { dnnl_memory_desc_get_size([plain]) / MemoryLayout<Float>.size }
    }

    private let primitive: dnnl_primitive_t
    /// The threads it was planned for (OneDNNThreads).
    private let threads: Int32
    let inputs: [Argument]
    /// Whether the first input goes into the primitive in a channel-blocked layout of ours.
    var takesFirstInputBlocked: Bool { inputs.first.map { $0.reorder != nil && $0.blocked != nil } ?? false }
    let outputs: [Argument]
    private var owned: [dnnl_primitive_t] = []

    /// `inputs` and `outputs`: argument ids with our row-major descriptors, in the order `run`
    /// takes their pointers; `threads`: what OpenMP's thread count was when `descriptor` was
    /// made. Takes ownership of `descriptor`.
    init(_ descriptor: dnnl_primitive_desc_t, threads: Int32, inputs: [(Int32, dnnl_memory_desc_t)],
         outputs: [(Int32, dnnl_memory_desc_t)]) throws {
        defer { dnnl_primitive_desc_destroy(descriptor) }
        self.threads = threads
        var made: dnnl_primitive_t?
        try OneDNN.check(dnnl_primitive_create(&made, descriptor), "oneDNN primitive")
        guard let made else { throw TensorError("oneDNN primitive: none was made") }
        primitive = made
        owned.append(made)
        do {
            var ins: [Argument] = [], outs: [Argument] = []
            for (id, plain) in inputs { ins.append(try DNNLPrimitive.argument(descriptor, id, plain, input: true, owned: &owned)) }
            for (id, plain) in outputs { outs.append(try DNNLPrimitive.argument(descriptor, id, plain, input: false, owned: &owned)) }
            self.inputs = ins
            self.outputs = outs
        } catch {
            for p in owned { dnnl_primitive_destroy(p) }
            owned = []
            throw error
        }
    }

    deinit {
        for p in owned { dnnl_primitive_destroy(p) }
    }

    private static func argument(_ pd: dnnl_primitive_desc_t, _ id: Int32, _ plain: dnnl_memory_desc_t, input: Bool,
                                 owned: inout [dnnl_primitive_t]) throws -> Argument {
        guard let chosen = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, id)?.pointee else {
            throw TensorError("oneDNN primitive: no layout for argument \(id)")
        }
        var mine = plain
        if dnnl_memory_desc_equal(&mine, [chosen]) != 0 {
            return Argument(id: id, plain: plain, inner: plain, reorder: nil, blocked: nil)
        }
        var reorderDesc: dnnl_primitive_desc_t?
        try OneDNN.check(input ? dnnl_reorder_primitive_desc_create(&reorderDesc, &mine, OneDNN.engine, [chosen], OneDNN.engine, nil)
                               : dnnl_reorder_primitive_desc_create(&reorderDesc, [chosen], OneDNN.engine, &mine, OneDNN.engine, nil),
                         "oneDNN reorder")
        guard let reorderDesc else { throw TensorError("oneDNN reorder: none was made") }
        defer { dnnl_primitive_desc_destroy(reorderDesc) }
        var reorder: dnnl_primitive_t?
        try OneDNN.check(dnnl_primitive_create(&reorder, reorderDesc), "oneDNN reorder")
        guard let reorder else { throw TensorError("oneDNN reorder: none was made") }
        owned.append(reorder)
        let dims = withUnsafeBytes(of: plain.dims) { Array($0.bindMemory(to: Int64.self).prefix(Int(plain.ndims))).map { Int($0) } }
        return Argument(id: id, plain: plain, inner: chosen, reorder: reorder, blocked: ChannelBlockedLayout(chosen, dims: dims))
    }

    /// Runs the primitive on our row-major buffers: `inputs` and `outputs` in the order given at
    /// creation. Blocked copies are made and dropped around the call. `what` names the operation
    /// in errors. When the first output comes out channel-blocked and `copyingOutOfBlocks` is
    /// given, that copies it to our buffer in place of oneDNN's reorder (returns true then).
    /// When the first input goes in channel-blocked (`takesFirstInputBlocked`) and
    /// `fillingFirstInput` is given, that writes it in oneDNN's layout, and the first input's
    /// pointer is not read.
    @discardableResult
    func run(inputs inPointers: [UnsafeRawPointer], outputs outPointers: [UnsafeMutableRawPointer],
             copyingOutOfBlocks: ((UnsafePointer<Float>, ChannelBlockedLayout) -> Void)? = nil,
             fillingFirstInput: ((UnsafeMutablePointer<Float>, ChannelBlockedLayout) -> Void)? = nil,
             _ what: @autoclosure () -> String) throws -> Bool {
        guard let engine = OneDNN.engine else { throw TensorError("\(what()): oneDNN has no CPU engine") }
        var memories: [dnnl_memory_t] = []
        var buffers: [(pointer: UnsafeMutableRawPointer, bytes: Int)] = []
        var stream: dnnl_stream_t?
        defer {
            for m in memories { dnnl_memory_destroy(m) }
            for b in buffers { OneDNNBufferPool.give(b) }
            if let stream { dnnl_stream_destroy(stream) }
        }
        func memory(_ desc: dnnl_memory_desc_t, _ pointer: UnsafeMutableRawPointer?) throws -> dnnl_memory_t {
            var m: dnnl_memory_t?
            var d = desc
            try OneDNN.check(dnnl_memory_create(&m, &d, engine, pointer), "\(what()): oneDNN memory")
            guard let m else { throw TensorError("\(what()): oneDNN made no memory") }
            memories.append(m)
            return m
        }
        // Mapped pages, not malloc's: through malloc, buffers of these sizes raise its threshold
        // for mapping and then stay in its heap, which grew the peak resident size of a long
        // evaluation batch after batch. A bounded pool keeps some for the next call.
        func buffer(_ bytes: Int) throws -> UnsafeMutableRawPointer {
            try MemoryBudget.check(count: bytes, itemBytes: 1, "\(what()): oneDNN buffer")
            guard let b = OneDNNBufferPool.take(bytes) else {
                throw TensorError("\(what()): out of memory for a oneDNN buffer of \(MemoryBudget.describe(bytes))")
            }
            buffers.append(b)
            return b.pointer
        }
        try OneDNN.check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "\(what()): oneDNN stream")
        // OpenMP's thread count is per calling thread and read by each reorder as it runs: set
        // before each (OneDNNThreads).
        func copy(_ reorder: dnnl_primitive_t, from: dnnl_memory_t, to: dnnl_memory_t, values: Int) throws {
            omp_set_num_threads(OneDNNThreads.forCopy(values: values))
            try execute(reorder, stream, [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: from), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: to)], what())
        }

        var args: [dnnl_exec_arg_t] = []
        for (k, (a, pointer)) in zip(self.inputs, inPointers).enumerated() {
            if k == 0, let fill = fillingFirstInput, a.reorder != nil, let layout = a.blocked {
                let innerBuffer = try buffer(a.innerBytes)
                fill(innerBuffer.assumingMemoryBound(to: Float.self), layout)
                args.append(dnnl_exec_arg_t(arg: a.id, memory: try memory(a.inner, innerBuffer)))
                continue
            }
            let user = try memory(a.plain, UnsafeMutableRawPointer(mutating: pointer))
            guard let reorder = a.reorder else { args.append(dnnl_exec_arg_t(arg: a.id, memory: user)); continue }
            let inner = try memory(a.inner, try buffer(a.innerBytes))
            try copy(reorder, from: user, to: inner, values: a.values)
            args.append(dnnl_exec_arg_t(arg: a.id, memory: inner))
        }
        var copiesBack: [(dnnl_primitive_t, dnnl_memory_t, dnnl_memory_t, Int)] = []
        var ownCopy: (() -> Void)?
        for (k, (a, pointer)) in zip(self.outputs, outPointers).enumerated() {
            let user = try memory(a.plain, pointer)
            guard let reorder = a.reorder else { args.append(dnnl_exec_arg_t(arg: a.id, memory: user)); continue }
            let innerBuffer = try buffer(a.innerBytes)
            let inner = try memory(a.inner, innerBuffer)
            if k == 0, let copy = copyingOutOfBlocks, let layout = a.blocked {
                ownCopy = { copy(UnsafePointer(innerBuffer.assumingMemoryBound(to: Float.self)), layout) }
            } else {
                copiesBack.append((reorder, inner, user, a.values))
            }
            args.append(dnnl_exec_arg_t(arg: a.id, memory: inner))
        }
        omp_set_num_threads(threads)
        try execute(primitive, stream, args, what())
        for (reorder, inner, user, values) in copiesBack {
            try copy(reorder, from: inner, to: user, values: values)
        }
        ownCopy?()
        return ownCopy != nil
    }

    private func execute(_ p: dnnl_primitive_t, _ stream: dnnl_stream_t?, _ args: [dnnl_exec_arg_t], _ what: String) throws {
        try OneDNN.check(dnnl_primitive_execute(p, stream, Int32(args.count), args), "\(what): oneDNN")
        try OneDNN.check(dnnl_stream_wait(stream), "\(what): oneDNN")
    }
}
