import CLua
import CLuaShim
import Tensor

/// `smia.io`: safetensors files. `smia.io.load(path)` → table name → tensor (integer and half
/// types arrive as float32), and the metadata table; an `.npz` archive loads the same way (name
/// without `.npy` → tensor, and an empty metadata table). `smia.io.save(path, tensors[, metadata])`
/// writes float32, atomically; `smia.io.save(path.npy, tensor)` one float32 `.npy` array, and
/// `smia.io.save(path.npz, {name = tensor})` an uncompressed `.npz` of them, as `numpy.savez`
/// (NumPy's `np.load` reads both). `smia.io.read_array(path)` → the one array of a `.npy`, NIfTI-1
/// (`.nii`, `.nii.gz`: (Z, Y, X), scaled by slope and intercept), IDX or DICOM file (`.dcm`,
/// `.dicom` or the DICM signature: (frames, rows, columns[, 3]), rescaled; see `DICOM`) (see `ArrayFile`). Modules get `m:load_weights(path[, {strict, strip_prefix}])` (see
/// `WeightLoading`) and `m:save_weights(path[, metadata])`.
enum IOBindings {
    static func open(_ L: OpaquePointer) {
        lua_createtable(L, 0, 3)
        setFunctions(L, prefix: "io.", [
            ("load", { a in
                let path = try a.string(1)
                if path.lowercased().hasSuffix(".npz") {
                    let arrays = try prefixed("load") { try NPZ.read(path: path) }
                    lua_createtable(a.L, 0, Int32(arrays.count))
                    for entry in arrays {
                        TensorBox.push(a.L, entry.tensor)
                        rawSetField(a.L, -2, entry.name)
                    }
                    pushMetadata(a.L, [:])
                    return 2
                }
                let file = try prefixed("load") { try SafeTensors.read(path: path) }
                lua_createtable(a.L, 0, Int32(file.tensors.count))
                for entry in file.tensors {
                    TensorBox.push(a.L, entry.tensor)
                    rawSetField(a.L, -2, entry.name)
                }
                pushMetadata(a.L, file.metadata)
                return 2
            }),
            ("read_array", { a in
                let path = try a.string(1)
                try a.checkNoMore(than: 1)
                return a.push(try prefixed("read_array") { try ArrayFile.read(path: path) })
            }),
            ("save", { a in
                let path = try a.string(1)
                if path.lowercased().hasSuffix(".npy") {
                    let tensor = try a.tensor(2)
                    try a.checkNoMore(than: 2)
                    try prefixed("save") { try NPY.write(path: path, tensor: tensor) }
                    return 0
                }
                try a.checkTable(2)
                let tensors = try NNBindings.namedTensors(a, 2)
                if path.lowercased().hasSuffix(".npz") {
                    try a.checkNoMore(than: 2)
                    try prefixed("save") { try NPZ.write(path: path, arrays: tensors) }
                    return 0
                }
                let metadata = try metadataArgument(a, 3)
                try prefixed("save") { try SafeTensors.write(path: path, tensors: tensors, metadata: metadata) }
                return 0
            }),
        ])
    }

    /// Module methods that read and write files.
    static let moduleMethods: [(String, LuaBody)] = [
        ("load_weights", { a in
            let m = try a.module(1)
            let path = try a.string(2)
            let options = try WeightLoading.options(a, 3)
            let file = try prefixed("load_weights") { try SafeTensors.read(path: path) }
            return try WeightLoading.load(a, m, file.tensors, source: path, options)
        }),
        ("save_weights", { a in
            let m = try a.module(1)
            let path = try a.string(2)
            let metadata = try metadataArgument(a, 3)
            try prefixed("save_weights") { try SafeTensors.write(path: path, tensors: m.stateDict(), metadata: metadata) }
            return a.returnSelf()
        }),
    ]

    /// Runs `body`, naming the Lua function in front of an engine error.
    private static func prefixed<R>(_ name: String, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as TensorError {
            throw LuaError(error.message.hasPrefix("\(name): ") ? error.message : "\(name): \(error.message)")
        }
    }

    /// Metadata: a table of string keys to strings (numbers are written as Lua prints them).
    private static func metadataArgument(_ a: LuaArgs, _ i: Int32) throws -> [String: String] {
        if a.isNil(i) { return [:] }
        try a.checkTable(i)
        let L = a.L
        var out: [String: String] = [:]
        lua_pushnil(L)
        while lua_next(L, i) != 0 {
            guard lua_type(L, -2) == LUA_TSTRING, let key = stringValue(L, -2) else {
                throw a.error(i, "metadata keys must be strings, got \(describeValue(L, -2))")
            }
            let t = lua_type(L, -1)
            guard t == LUA_TSTRING || t == LUA_TNUMBER, let value = stringValue(L, -1) else {
                throw a.error(i, "metadata value of '\(key)' must be a string or a number, got \(luaTypeName(L, -1))")
            }
            out[key] = value
            smia_pop(L, 1)
        }
        return out
    }

    private static func pushMetadata(_ L: OpaquePointer, _ metadata: [String: String]) {
        lua_createtable(L, 0, Int32(metadata.count))
        for (key, value) in metadata {
            pushString(L, value)
            rawSetField(L, -2, key)
        }
    }
}
