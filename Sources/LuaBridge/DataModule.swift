import Attacks
import CLua
import CLuaShim
import Foundation
import Tensor

/// `smia.data`: datasets. Every constructor takes one table of options and returns a dataset
/// object `ds` with
///
/// - `ds.task` ("classification", "segmentation", "detection"), `ds.classes` (class names by
///   label: `ds.classes[label + 1]`), `ds.channels`, `ds.name`; `#ds` and `ds:size()`;
/// - `ds:get(i)` (1-based) → image C×H×W in [0, 1] and the target: a class (integer, 0-based),
///   a mask H×W, or a list of boxes `{x1, y1, x2, y2, class}`; `ds:file(i)` the image file
///   sample i is read from (datasets of files), else nil;
/// - `ds:batch(positions)` → `{x = N×C×H×W, y = labels (N) | masks (N×H×W) | boxes per image,
///   indices = positions}`;
/// - `ds:batches{size = 32, shuffle = false, seed =, drop_last = false}` → an iterator of such
///   batches for `for b in ds:batches{...} do ... end`. With `shuffle`, the order comes from
///   `seed`, or, without one, from the stream `smia.seed` sets (a new order each call).
///
/// Sources: `benchmark{name, split =, n =, size =, seed =}` and its shortcuts `fundus{...}`,
/// `ct_lung{...}`, `endoscopy{...}`; `fashion_mnist{split =, n =, root =}`;
/// `npz{path, images =, labels =, scale = 255, n =, classes =}`; and PNG or DICOM files:
/// `folder{root, channels =, window =}`, `csv{path, root =, classes =, channels =, window =}`,
/// `masks{images =, masks =, classes =, channels =, window =}`,
/// `boxes{path, root =, classes =, channels =, window =}`; `window` maps DICOM values to
/// [0, 1] as in `smia.image.read`.
/// See `FileDatasets` for the file layouts. `classes` is a count or a list of names.
enum DataBindings {
    static let metatable = "smia.Dataset"
    private static let box = ObjectBox<Dataset>(metatable: metatable)

    static func open(_ L: OpaquePointer) {
        createMetatable(L)
        lua_createtable(L, 0, 12)
        var constructors: [(String, LuaBody)] = [
            ("benchmark", { a in try benchmark(a, name: nil) }),
            ("fashion_mnist", fashionMNIST),
            ("npz", npz),
            ("folder", folder),
            ("csv", csv),
            ("masks", masks),
            ("boxes", boxes),
        ]
        for name in Benchmarks.names {
            constructors.append((name, { a in try benchmark(a, name: name) }))
        }
        setFunctions(L, prefix: "data.", constructors)
    }

    private static func createMetatable(_ L: OpaquePointer) {
        luaL_newmetatable(L, metatable)
        setFunctions(L, prefix: "dataset.mt.", [
            ("__len", { a in a.push(integer: try dataset(a).count) }),
            ("__tostring", { a in
                if box.isReleased(a.L, 1) { return a.push("[released Dataset]") }
                let ds = try dataset(a)
                return a.push("Dataset(\(ds.name): \(ds.count) samples, \(ds.task.rawValue), \(ds.classNames.count) classes, "
                    + "\(ds.channels) channel\(ds.channels == 1 ? "" : "s"))")
            }),
            ("__gc", { a in
                box.release(a.L, 1)
                return 0
            }),
        ])
        lua_createtable(L, 0, 4)
        setFunctions(L, prefix: "dataset:", isMethod: true, [
            ("size", { a in a.push(integer: try dataset(a).count) }),
            ("get", get),
            ("file", { a in
                let ds = try dataset(a)
                let i = try a.integer(2)
                guard i >= 1, i <= ds.count else {
                    throw a.error(2, "index \(i) out of range (the dataset holds \(ds.count) samples: 1..\(ds.count))")
                }
                guard let path = ds.file(i - 1) else { lua_pushnil(a.L); return 1 }
                return a.push(path)
            }),
            ("batch", { a in
                let ds = try dataset(a)
                let positions = try positionList(a, 2, count: ds.count)
                try pushBatch(a, ds.batch(positions))
                return 1
            }),
            ("batches", batches),
        ])
        lua_pushvalue(L, -1)
        pushFunction(L, key: "dataset.mt.__index", name: "__index", upvalues: 1, index)
        lua_setfield(L, -3, "__index")
        lua_setfield(L, -2, "methods")
        smia_pop(L, 1)
    }

    private static func dataset(_ a: LuaArgs) throws -> Dataset {
        guard let ds = box.get(a.L, 1) else { throw a.typeError(1, "dataset") }
        return ds
    }

    /// Methods, then the fields `task`, `classes`, `channels`, `name`.
    private static func index(_ a: LuaArgs) throws -> Int32 {
        let L = a.L
        if a.type(2) == LUA_TSTRING {
            lua_pushvalue(L, 2)
            if lua_rawget(L, a.upvalue(2)) != LUA_TNIL { return 1 }
            smia_pop(L, 1)
            let ds = try dataset(a)
            switch stringValue(L, 2) {
            case "task": return a.push(ds.task.rawValue)
            case "channels": return a.push(integer: ds.channels)
            case "name": return a.push(ds.name)
            case "classes":
                lua_createtable(L, Int32(ds.classNames.count), 0)
                for (k, name) in ds.classNames.enumerated() {
                    pushString(L, name)
                    lua_rawseti(L, -2, lua_Integer(k + 1))
                }
                return 1
            default: break
            }
        }
        lua_pushnil(L)
        return 1
    }

    private static func get(_ a: LuaArgs) throws -> Int32 {
        let ds = try dataset(a)
        let i = try a.integer(2)
        guard i >= 1, i <= ds.count else {
            throw a.error(2, "index \(i) out of range (the dataset holds \(ds.count) samples: 1..\(ds.count))")
        }
        let s = try ImageBindings.prefixed("get") { try ds.sample(i - 1) }
        a.push(s.image)
        switch s.target {
        case .label(let label): a.push(integer: label)
        case .mask(let mask): a.push(mask)
        case .boxes(let boxes): BoxTables.push(a.L, list: boxes)
        }
        return 2
    }

    /// A list of 1-based positions at argument `i`, as 0-based indices.
    private static func positionList(_ a: LuaArgs, _ i: Int32, count: Int) throws -> [Int] {
        try a.checkTable(i)
        let L = a.L
        let n = Int(lua_rawlen(L, i))
        guard n >= 1 else { throw a.error(i, "expected a non-empty list of sample positions") }
        var out: [Int] = []
        for k in 1 ... n {
            lua_rawgeti(L, i, lua_Integer(k))
            let p = integerValue(L, -1)
            smia_pop(L, 1)
            guard let p, p >= 1, p <= count else {
                throw a.error(i, "position \(k) is not a sample position (expected integers 1..\(count))")
            }
            out.append(p - 1)
        }
        return out
    }

    private static func pushBatch(_ a: LuaArgs, _ b: Batch) throws {
        let L = a.L
        lua_createtable(L, 0, 3)
        TensorBox.push(L, b.images)
        lua_setfield(L, -2, "x")
        if let labels = b.labels {
            TensorBox.push(L, labels)
        } else {
            BoxTables.push(L, perImage: b.boxes)
        }
        lua_setfield(L, -2, "y")
        a.push(list: b.indices.map { $0 + 1 })
        lua_setfield(L, -2, "indices")
    }

    /// The iterator keeps the dataset, the order, the batch size, whether to drop a short last
    /// batch and the next position as upvalues 2...6.
    private static func batches(_ a: LuaArgs) throws -> Int32 {
        let ds = try dataset(a)
        let o = try LuaOptions(a, 2, names: ["size", "shuffle", "seed", "drop_last"])
        let size = try o.positive("size", default: 32)
        let shuffle = try o.boolean("shuffle", default: false)
        let seed = try o.integer("seed")
        let dropLast = try o.boolean("drop_last", default: false)
        if seed != nil && !shuffle { throw a.error(2, "option 'seed' given without shuffle = true") }
        let order = ds.order(shuffleSeed: shuffle ? seed.map { UInt64(bitPattern: Int64($0)) } ?? BridgeRandom.nextSeed() : nil)
        let L = a.L
        lua_pushvalue(L, 1)
        a.push(list: order)
        lua_pushinteger(L, lua_Integer(size))
        lua_pushboolean(L, dropLast ? 1 : 0)
        lua_pushinteger(L, 1)
        pushFunction(L, key: "dataset.batches.next", name: "batches", upvalues: 5) { a in
            let L = a.L
            guard let ds = box.get(L, a.upvalue(2)) else { throw a.failure("the dataset was released") }
            let orderIndex = a.upvalue(3)
            let total = Int(lua_rawlen(L, orderIndex))
            let size = Int(lua_tointegerx(L, a.upvalue(4), nil))
            let dropLast = lua_toboolean(L, a.upvalue(5)) != 0
            let next = Int(lua_tointegerx(L, a.upvalue(6), nil))
            let end = min(next + size - 1, total)
            if next > total || (dropLast && end - next + 1 < size) {
                lua_pushnil(L)
                return 1
            }
            var indices: [Int] = []
            for k in next ... end {
                lua_rawgeti(L, orderIndex, lua_Integer(k))
                indices.append(Int(lua_tointegerx(L, -1, nil)))
                smia_pop(L, 1)
            }
            lua_pushinteger(L, lua_Integer(end + 1))
            lua_copy(L, -1, a.upvalue(6))
            smia_pop(L, 1)
            try pushBatch(a, ImageBindings.prefixed("batches") { try ds.batch(indices) })
            return 1
        }
        return 1
    }

    // MARK: - Sources

    private static func push(_ a: LuaArgs, _ make: () throws -> Dataset) throws -> Int32 {
        let ds: Dataset
        do {
            ds = try make()
        } catch let error as TensorError {
            throw a.failure(error.message.hasPrefix(a.name + ":") ? String(error.message.dropFirst(a.name.count + 1))
                                .trimmingCharacters(in: .whitespaces) : error.message)
        }
        box.push(a.L, ds)
        return 1
    }

    private static func benchmark(_ a: LuaArgs, name fixed: String?) throws -> Int32 {
        var names = ["split", "n", "size", "seed"]
        if fixed == nil { names.insert("name", at: 0) }
        let o = try LuaOptions(a, 1, names: names, positional: fixed == nil ? ["name"] : [], required: fixed == nil)
        let name = try fixed ?? o.string("name") ?? ""
        if fixed == nil, name.isEmpty {
            throw a.error(1, "option 'name' is required (one of \(Benchmarks.names.joined(separator: ", ")))")
        }
        let split = try o.string("split", default: "train")
        let n = try o.integer("n", default: 100)
        guard n >= 1 else { throw a.error(1, "option 'n': must be positive, got \(n)") }
        let size = try o.integer("size")
        let seed = try o.integer("seed").map { UInt64(bitPattern: Int64($0)) }
        return try push(a) { try ArrayDatasets.benchmark(name, split: split, count: n, size: size, seed: seed) }
    }

    private static func fashionMNIST(_ a: LuaArgs) throws -> Int32 {
        let o = try LuaOptions(a, 1, names: ["split", "n", "root"])
        let split = try o.string("split", default: "train")
        let n = try o.integer("n")
        if let n, n < 1 { throw a.error(1, "option 'n': must be positive, got \(n)") }
        let root = try o.string("root")
        return try push(a) { try ArrayDatasets.fashionMNIST(split: split, count: n, root: root) }
    }

    private static func npz(_ a: LuaArgs) throws -> Int32 {
        let o = try LuaOptions(a, 1, names: ["path", "images", "labels", "scale", "n", "classes"], positional: ["path"],
                               required: true)
        guard let path = try o.string("path") else { throw a.error(1, "option 'path' is required") }
        let n = try o.integer("n")
        if let n, n < 1 { throw a.error(1, "option 'n': must be positive, got \(n)") }
        let classes = try classNames(a, o)
        let images = try o.string("images", default: "train_images")
        let labels = try o.string("labels", default: "train_labels")
        let scale = Float(try o.number("scale", default: 255))
        return try push(a) {
            try ArrayDatasets.npz(path: path, imagesKey: images, labelsKey: labels, scale: scale, count: n, classNames: classes)
        }
    }

    private static func folder(_ a: LuaArgs) throws -> Int32 {
        let o = try LuaOptions(a, 1, names: ["root", "channels", "window"], positional: ["root"], required: true)
        guard let root = try o.string("root") else { throw a.error(1, "option 'root' is required") }
        let channels = try o.integer("channels")
        let window = try o.dicomWindow()
        return try push(a) { try FileDatasets.folder(root: root, channels: channels, window: window) }
    }

    private static func csv(_ a: LuaArgs) throws -> Int32 {
        let o = try LuaOptions(a, 1, names: ["path", "root", "classes", "channels", "window"], positional: ["path"],
                               required: true)
        guard let path = try o.string("path") else { throw a.error(1, "option 'path' is required") }
        let root = try o.string("root")
        let classes = try classNames(a, o)
        let channels = try o.integer("channels")
        let window = try o.dicomWindow()
        return try push(a) { try FileDatasets.csv(path: path, root: root, classNames: classes, channels: channels, window: window) }
    }

    private static func masks(_ a: LuaArgs) throws -> Int32 {
        let o = try LuaOptions(a, 1, names: ["images", "masks", "classes", "channels", "window"], required: true)
        guard let images = try o.string("images") else { throw a.error(1, "option 'images' is required (a folder of PNG or DICOM images)") }
        guard let masks = try o.string("masks") else { throw a.error(1, "option 'masks' is required (a folder of label PNGs)") }
        let classes = try classNames(a, o)
        let channels = try o.integer("channels")
        let window = try o.dicomWindow()
        return try push(a) {
            try FileDatasets.masks(images: images, masks: masks, classNames: classes, channels: channels, window: window)
        }
    }

    private static func boxes(_ a: LuaArgs) throws -> Int32 {
        let o = try LuaOptions(a, 1, names: ["path", "root", "classes", "channels", "window"], positional: ["path"],
                               required: true)
        guard let path = try o.string("path") else { throw a.error(1, "option 'path' is required") }
        let root = try o.string("root")
        let classes = try classNames(a, o)
        let channels = try o.integer("channels")
        let window = try o.dicomWindow()
        return try push(a) {
            try FileDatasets.boxes(path: path, root: root, classNames: classes, channels: channels, window: window)
        }
    }

    /// `classes`: a positive count (names "0", "1", ...) or a non-empty list of names.
    private static func classNames(_ a: LuaArgs, _ o: LuaOptions) throws -> [String]? {
        guard let i = o.index else { return nil }
        let L = a.L
        let t = rawGetField(L, i, "classes")
        defer { smia_pop(L, 1) }
        if t == LUA_TNIL { return nil }
        if let k = integerValue(L, -1) {
            guard k >= 1 else { throw a.error(i, "option 'classes': must be positive, got \(k)") }
            guard k <= classIndexLimit else { throw a.error(i, "option 'classes': at most 2^24 = \(classIndexLimit) classes, got \(k)") }
            return (0 ..< k).map(String.init)
        }
        guard t == LUA_TTABLE, lua_rawlen(L, -1) >= 1 else {
            throw a.error(i, "option 'classes': a count or a list of names expected, got \(describeValue(L, -1))")
        }
        var names: [String] = []
        for k in 1 ... Int(lua_rawlen(L, -1)) {
            lua_rawgeti(L, -1, lua_Integer(k))
            let name = lua_type(L, -1) == LUA_TSTRING ? stringValue(L, -1) : nil
            smia_pop(L, 1)
            guard let name else { throw a.error(i, "option 'classes': name \(k) is not a string") }
            names.append(name)
        }
        return names
    }
}
