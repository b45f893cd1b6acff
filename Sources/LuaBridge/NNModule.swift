import CLua
import CLuaShim
import Tensor

/// `smia.nn`: the functional forms (`nn.conv2d(x, w, b, {padding = 1})`), the layer
/// constructors, which take one table of named options (`nn.Conv2d{in_channels = 1,
/// out_channels = 16, kernel_size = 3, padding = 1}`, or positionally `nn.Conv2d{1, 16, 3,
/// padding = 1}`), and the methods of module userdata.
///
/// A module's parameters are its live tensors: `m:parameters()`, `m.fc.weight` and
/// `m:state_dict()` hand out the tensors the module computes with, so `p:sub_(lr * g)` trains it.
/// Children of a Sequential are named "0", "1", ... in state dicts, as in PyTorch, and are
/// `m[1]`, `m[2]`, ... from Lua.
enum NNBindings {
    /// Pushes the `smia.nn` table.
    static func open(_ L: OpaquePointer) {
        lua_createtable(L, 0, Int32(functional.count + LossBindings.functions.count + constructors.count
                                    + layerFunctional.count + layerConstructors.count))
        setFunctions(L, prefix: "nn.", functional + layerFunctional)
        setFunctions(L, prefix: "nn.", LossBindings.functions)
        setFunctions(L, prefix: "nn.", constructors + layerConstructors)
    }

    /// The module metatable: `m(x)`, methods, `m.child` / `m.weight` / `m[i]`, `#m`, printing.
    static func createMetatable(_ L: OpaquePointer) {
        luaL_newmetatable(L, ModuleBox.metatable)
        setFunctions(L, prefix: "module.mt.", metamethods)
        pushFunction(L, key: "module.mt.__call", name: "forward", isMethod: true, forward)
        lua_setfield(L, -2, "__call")
        lua_createtable(L, 0, Int32(methods.count + IOBindings.moduleMethods.count))
        setFunctions(L, prefix: "module:", isMethod: true, methods + IOBindings.moduleMethods)
        lua_pushvalue(L, -1)
        pushFunction(L, key: "module.mt.__index", name: "__index", upvalues: 1, index)
        lua_setfield(L, -3, "__index")
        lua_setfield(L, -2, "methods")
        smia_pop(L, 1)
    }

    // MARK: - Functional forms

    static let functional: [(String, LuaBody)] = [
        ("conv2d", { a in
            let x = try a.tensor(1), w = try a.tensor(2)
            // conv2d(x, w[, b][, options]): a table in third place is the options.
            let biasGiven = TensorBox.get(a.L, 3) != nil || a.isNil(3)
            let bias = biasGiven ? try a.optionalTensor(3) : nil
            let o = try LuaOptions(a, biasGiven ? 4 : 3, names: ["stride", "padding", "dilation", "groups"])
            let options = Conv2dOptions(stride: try o.pair("stride", default: (1, 1)),
                                        padding: try o.pair("padding", default: (0, 0)),
                                        dilation: try o.pair("dilation", default: (1, 1)),
                                        groups: try o.integer("groups", default: 1))
            return a.push(try Tensor.conv2d(x, weight: w, bias: bias, options: options))
        }),
        ("max_pool2d", { a in
            let x = try a.tensor(1)
            return a.push(try Tensor.maxPool2d(x, poolOptions(a, 2, average: false)))
        }),
        ("avg_pool2d", { a in
            let x = try a.tensor(1)
            return a.push(try Tensor.avgPool2d(x, poolOptions(a, 2, average: true)))
        }),
        ("adaptive_avg_pool2d", { a in
            let x = try a.tensor(1)
            return a.push(try Tensor.adaptiveAvgPool2d(x, outputSize: sizePair(a, 2)))
        }),
        ("batch_norm", { a in
            // PyTorch's order: (x, running_mean, running_var, weight, bias, training, momentum, eps).
            let x = try a.tensor(1)
            return a.push(try Tensor.batchNorm(x, runningMean: a.tensor(2), runningVar: a.tensor(3),
                                               weight: a.optionalTensor(4), bias: a.optionalTensor(5),
                                               training: a.optionalBoolean(6) ?? false,
                                               momentum: Float(a.optionalNumber(7) ?? 0.1),
                                               eps: Float(a.optionalNumber(8) ?? 1e-5)))
        }),
        ("linear", { a in
            a.push(try Tensor.linear(a.tensor(1), weight: a.tensor(2), bias: a.optionalTensor(3)))
        }),
        ("relu", { a in a.push(try a.tensor(1).relu()) }),
        ("sigmoid", { a in a.push(try a.tensor(1).sigmoid()) }),
        ("tanh", { a in a.push(try a.tensor(1).tanh()) }),
        ("leaky_relu", { a in a.push(try a.tensor(1).leakyRelu(Float(a.optionalNumber(2) ?? 0.01))) }),
        ("softmax", { a in
            let x = try a.tensor(1)
            return a.push(try x.softmax(dim: a.dimension(2, rank: x.rank)))
        }),
        ("log_softmax", { a in
            let x = try a.tensor(1)
            return a.push(try x.logSoftmax(dim: a.dimension(2, rank: x.rank)))
        }),
        ("gaussian_kernel", { a in
            a.push(try Tensor.gaussianKernel(size: a.integer(1), sigma: Float(a.number(2))))
        }),
        ("gaussian_blur", { a in
            a.push(try Tensor.gaussianBlur(a.tensor(1), size: a.integer(2), sigma: Float(a.number(3))))
        }),
    ]

    /// Pooling options: a kernel size (`2`, `{2, 3}`) or a table
    /// `{kernel_size, stride, padding, ceil_mode[, count_include_pad]}`.
    private static func poolOptions(_ a: LuaArgs, _ i: Int32, average: Bool) throws -> Pool2dOptions {
        if a.type(i) == LUA_TNUMBER {
            let k = try a.integer(i)
            return Pool2dOptions(kernel: (k, k))
        }
        var names = ["kernel_size", "stride", "padding", "ceil_mode"]
        if average { names.append("count_include_pad") }
        let o = try LuaOptions(a, i, names: names, positional: ["kernel_size", "stride", "padding"], required: true)
        guard let kernel = try o.pair("kernel_size") else {
            throw a.error(i, "option 'kernel_size' is required")
        }
        return Pool2dOptions(kernel: kernel, stride: try o.pair("stride"), padding: try o.pair("padding", default: (0, 0)),
                             ceilMode: try o.boolean("ceil_mode", default: false),
                             countIncludePad: try o.boolean("count_include_pad", default: true))
    }

    /// An output size: `7` or `{7, 7}`.
    private static func sizePair(_ a: LuaArgs, _ i: Int32) throws -> (Int, Int) {
        if a.type(i) == LUA_TNUMBER {
            let n = try a.integer(i)
            return (n, n)
        }
        let sizes = try TensorBindings.integers(a, from: i, what: "output size", varargs: false)
        guard sizes.count == 2 else { throw a.error(i, "expected a size or a table of 2 sizes, got \(sizes.count) numbers") }
        return (sizes[0], sizes[1])
    }

    // MARK: - Layer constructors

    static let constructors: [(String, LuaBody)] = [
        ("Conv2d", { a in
            let o = try LuaOptions(a, 1, names: ["in_channels", "out_channels", "kernel_size", "stride", "padding",
                                                 "dilation", "groups", "bias"],
                                   positional: ["in_channels", "out_channels", "kernel_size", "stride", "padding"],
                                   required: true)
            guard let kernel = try o.pair("kernel_size") else { throw a.error(1, "option 'kernel_size' is required") }
            return a.push(try Conv2d(inChannels: o.positive("in_channels"), outChannels: o.positive("out_channels"),
                                     kernelSize: kernel, stride: o.pair("stride", default: (1, 1)),
                                     padding: o.pair("padding", default: (0, 0)),
                                     dilation: o.pair("dilation", default: (1, 1)),
                                     groups: o.positive("groups", default: 1), bias: o.boolean("bias", default: true)))
        }),
        ("BatchNorm2d", { a in
            let o = try LuaOptions(a, 1, names: ["num_features", "eps", "momentum"], positional: ["num_features"],
                                   required: true)
            return a.push(try BatchNorm2d(numFeatures: o.positive("num_features"),
                                          eps: Float(o.number("eps", default: 1e-5)),
                                          momentum: Float(o.number("momentum", default: 0.1))))
        }),
        ("ReLU", { a in
            _ = try LuaOptions(a, 1, names: [])
            return a.push(ReLU())
        }),
        ("MaxPool2d", { a in
            try a.checkTableOrNumber(1)
            return a.push(MaxPool2d(try poolOptions(a, 1, average: false)))
        }),
        ("AvgPool2d", { a in
            try a.checkTableOrNumber(1)
            return a.push(AvgPool2d(try poolOptions(a, 1, average: true)))
        }),
        ("AdaptiveAvgPool2d", { a in
            let o = try LuaOptions(a, 1, names: ["output_size"], positional: ["output_size"], required: true)
            guard let size = try o.pair("output_size") else { throw a.error(1, "option 'output_size' is required") }
            return a.push(try AdaptiveAvgPool2d(outputSize: size))
        }),
        ("Linear", { a in
            let o = try LuaOptions(a, 1, names: ["in_features", "out_features", "bias"],
                                   positional: ["in_features", "out_features"], required: true)
            return a.push(try Linear(inFeatures: o.positive("in_features"), outFeatures: o.positive("out_features"),
                                     bias: o.boolean("bias", default: true)))
        }),
        ("Flatten", { a in
            // start_dim is 1-based like every dimension in Lua: the default 2 keeps the batch.
            let o = try LuaOptions(a, 1, names: ["start_dim"], positional: ["start_dim"])
            let d = try o.integer("start_dim", default: 2)
            guard d >= 1 else { throw a.error(1, "option 'start_dim': expected a dimension >= 1, got \(d)") }
            return a.push(Flatten(startDim: d - 1))
        }),
        ("Dropout", { a in
            let o = try LuaOptions(a, 1, names: ["p"], positional: ["p"])
            return a.push(try Dropout(p: Float(o.number("p", default: 0.5))))
        }),
        ("Sequential", { a in
            // Sequential{m1, m2, ...} or Sequential(m1, m2, ...).
            var modules: [Module] = []
            if a.count == 1, a.type(1) == LUA_TTABLE {
                let L = a.L
                var n = 0
                lua_pushnil(L)
                while lua_next(L, 1) != 0 {
                    smia_pop(L, 1)
                    n += 1
                }
                guard Int(lua_rawlen(L, 1)) == n else {
                    throw a.error(1, "expected a list of modules {m1, m2, ...}, got a table with other keys")
                }
                for k in 0..<n {
                    lua_rawgeti(L, 1, lua_Integer(k + 1))
                    defer { smia_pop(L, 1) }
                    guard let m = ModuleBox.get(L, -1) else {
                        throw a.error(1, "module expected at position \(k + 1), got \(luaTypeName(L, -1))")
                    }
                    modules.append(m)
                }
            } else {
                modules = try (0..<Int(a.count)).map { try a.module(Int32($0) + 1) }
            }
            return a.push(Sequential(modules))
        }),
    ]

    // MARK: - Module methods

    static let metamethods: [(String, LuaBody)] = [
        ("__tostring", { a in
            if ModuleBox.isReleased(a.L, 1) { return a.push("[released Module]") }
            return a.push(try a.module(1).describe())
        }),
        ("__len", { a in a.push(integer: try a.module(1).children.count) }),
        ("__gc", { a in
            ModuleBox.release(a.L, 1)
            return 0
        }),
        ("__newindex", { a in
            _ = try a.module(1)
            throw LuaError("cannot set field '\(stringValue(a.L, 2) ?? a.typeName(2))' of a module (modules are built by their constructors; change a parameter in place with p:copy_(v))")
        }),
    ]

    private static func forward(_ a: LuaArgs) throws -> Int32 {
        let m = try a.module(1)
        let x = try a.tensor(2)
        if let det = m as? Detector { return DetectorBindings.pushHeads(a, try det.heads(x)) }
        return a.push(try m.forward(x))
    }

    /// `m.name` → method, else `training` (a boolean), else child `name`, else own parameter or
    /// buffer `name`; `m[i]` → child i.
    private static func index(_ a: LuaArgs) throws -> Int32 {
        let L = a.L
        switch a.type(2) {
        case LUA_TSTRING:
            lua_pushvalue(L, 2)
            if lua_rawget(L, a.upvalue(2)) != LUA_TNIL { return 1 }
            smia_pop(L, 1)
            let m = try a.module(1)
            let key = try a.string(2)
            // PyTorch's attribute: whether the module is in training mode.
            if key == "training" { return a.push(m.isTraining) }
            if m is Detector, let method = DetectorBindings.methods.first(where: { $0.0 == key }) {
                pushFunction(L, key: "detector:" + key, name: key, isMethod: true, method.1)
                return 1
            }
            if let child = m.children.first(where: { $0.name == key }) { return a.push(child.module) }
            if let p = (m.ownParameters + m.ownBuffers).first(where: { $0.name == key }) { return a.push(p.tensor, fresh: false) }
        case LUA_TNUMBER:
            let m = try a.module(1)
            if let i = integerValue(L, 2), i >= 1, i <= m.children.count { return a.push(m.children[i - 1].module) }
        default:
            break
        }
        lua_pushnil(L)
        return 1
    }

    static let methods: [(String, LuaBody)] = [
        ("forward", forward),
        ("parameters", { a in
            let m = try a.module(1)
            pushTensorList(a, m.namedParameters().map(\.tensor))
            return 1
        }),
        ("named_parameters", { a in
            pushNamedTensors(a, try a.module(1).namedParameters())
            return 2
        }),
        ("state_dict", { a in
            pushNamedTensors(a, try a.module(1).stateDict())
            return 2
        }),
        ("load_state_dict", { a in
            let m = try a.module(1)
            try a.checkTable(2)
            // Strict; `m:load_state_dict(other:state_dict())` passes the names list along too.
            return try WeightLoading.load(a, m, namedTensors(a, 2), source: "the table", WeightLoading.Options())
        }),
        ("num_parameters", { a in a.push(integer: try a.module(1).namedParameters().reduce(0) { $0 + $1.tensor.count }) }),
        ("eval", { a in
            try a.module(1).eval()
            return a.returnSelf()
        }),
        ("train", { a in
            try a.module(1).train(a.optionalBoolean(2) ?? true)
            return a.returnSelf()
        }),
        ("is_training", { a in a.push(try a.module(1).isTraining) }),
        ("children", { a in
            let m = try a.module(1)
            lua_createtable(a.L, Int32(m.children.count), 0)
            for (k, child) in m.children.enumerated() {
                ModuleBox.push(a.L, child.module)
                lua_rawseti(a.L, -2, lua_Integer(k + 1))
            }
            lua_createtable(a.L, Int32(m.children.count), 0)
            for (k, child) in m.children.enumerated() {
                pushString(a.L, child.name)
                lua_rawseti(a.L, -2, lua_Integer(k + 1))
            }
            return 2
        }),
        ("get", { a in
            let m = try a.module(1)
            let i = try a.integer(2)
            guard i >= 1, i <= m.children.count else {
                throw a.error(2, "child \(i) out of range (the module has \(m.children.count) children)")
            }
            return a.push(m.children[i - 1].module)
        }),
        ("add", { a in
            let target = try a.module(1)
            guard let s = target as? Sequential else {
                throw a.error(1, "only a Sequential takes new children, got \(target.typeName)")
            }
            let m = try a.module(2)
            // A module inside itself would send every walk over the children (parameters,
            // modes, printing) round the cycle until the stack overflows.
            guard !m.contains(s) else {
                throw a.error(2, "a module cannot contain itself: this \(m.typeName) is the Sequential or holds it")
            }
            s.registerChild(String(s.count), m)
            return a.returnSelf()
        }),
        ("type", { a in a.push(try a.module(1).typeName) }),
    ]

    /// A Lua list of tensors (the module's own, not copies).
    static func pushTensorList(_ a: LuaArgs, _ tensors: [Tensor]) {
        lua_createtable(a.L, Int32(tensors.count), 0)
        for (k, t) in tensors.enumerated() {
            TensorBox.push(a.L, t, fresh: false)
            lua_rawseti(a.L, -2, lua_Integer(k + 1))
        }
    }

    /// A table name → tensor, then the list of names in order.
    static func pushNamedTensors(_ a: LuaArgs, _ entries: [(name: String, tensor: Tensor)]) {
        let L = a.L
        lua_createtable(L, 0, Int32(entries.count))
        for entry in entries {
            TensorBox.push(L, entry.tensor, fresh: false)
            rawSetField(L, -2, entry.name)
        }
        lua_createtable(L, Int32(entries.count), 0)
        for (k, entry) in entries.enumerated() {
            pushString(L, entry.name)
            lua_rawseti(L, -2, lua_Integer(k + 1))
        }
    }

    /// The table at `i` as name → tensor entries (sorted by name, for stable errors and files).
    static func namedTensors(_ a: LuaArgs, _ i: Int32) throws -> [(name: String, tensor: Tensor)] {
        let L = a.L
        var entries: [(name: String, tensor: Tensor)] = []
        lua_pushnil(L)
        while lua_next(L, i) != 0 {
            guard lua_type(L, -2) == LUA_TSTRING, let name = stringValue(L, -2) else {
                throw a.error(i, "expected a table name → tensor, got key \(describeValue(L, -2))")
            }
            guard let t = TensorBox.get(L, -1) else {
                throw a.error(i, "tensor expected for '\(name)', got \(luaTypeName(L, -1))")
            }
            entries.append((name, t))
            smia_pop(L, 1)
        }
        return entries.sorted { $0.name < $1.name }
    }
}

extension LuaArgs {
    /// Layer constructors with a shorthand: `MaxPool2d(2)` or `MaxPool2d{kernel_size = 2}`.
    func checkTableOrNumber(_ i: Int32) throws {
        guard type(i) == LUA_TTABLE || type(i) == LUA_TNUMBER else { throw typeError(i, "table of options") }
    }
}
