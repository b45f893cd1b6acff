import Attacks
import CLua
import CLuaShim
import Tensor

/// The detector from Lua: `det(x)` gives a table `{heatmap =, size =, offset =}` of head
/// tensors; `det:loss(out, boxes_per_image)` the CenterNet loss as a scalar tensor (with its
/// parts as numbers second); `det:decode(out, {k =, threshold =, nms =})` per image a list of
/// `{x1 =, y1 =, x2 =, y2 =, class =, score =}` in input pixels, classes 0-based.
///
/// Boxes come as `{x1, y1, x2, y2, class}` or `{x1 =, y1 =, x2 =, y2 =, class =}`, one list
/// per image; `out` is the table `det(x)` returned or the concatenated tensor of `forward`.
enum DetectorBindings {
    static func pushHeads(_ a: LuaArgs, _ heads: DetectorHeads) -> Int32 {
        let L = a.L
        lua_createtable(L, 0, 3)
        for (name, t) in [("heatmap", heads.heatmap), ("size", heads.size), ("offset", heads.offset)] {
            TensorBox.push(L, t)
            rawSetField(L, -2, name)
        }
        return 1
    }

    /// Methods only detectors have, looked up after the common module methods.
    static let methods: [(String, LuaBody)] = [
        ("loss", { a in
            let det = try detector(a)
            let heads = try headsArgument(a, 2, det)
            let boxes = try boxLists(a, 3)
            let shape = heads.heatmap.shape
            guard boxes.count == shape[0] else {
                throw a.error(3, "expected \(shape[0]) lists of boxes (one per image), got \(boxes.count)")
            }
            let loss = try DetectionLoss(heads, boxes: boxes, imageSize: (shape[2] * Detector.stride, shape[3] * Detector.stride))
            a.push(loss.total)
            lua_createtable(a.L, 0, 3)
            for (name, part) in [("heatmap", loss.heatmap), ("size", loss.size), ("offset", loss.offset)] {
                lua_pushnumber(a.L, Double(try part.item()))
                rawSetField(a.L, -2, name)
            }
            return 2
        }),
        ("decode", { a in
            let det = try detector(a)
            let heads = try headsArgument(a, 2, det)
            let o = try LuaOptions(a, 3, names: ["k", "threshold", "nms"])
            let decoder = try DetectionDecoder(k: o.positive("k", default: 100), threshold: Float(o.number("threshold") ?? 0.3),
                                               nmsIoU: nmsOption(a, o))
            let L = a.L
            let found = try decoder.decode(heads)
            lua_createtable(L, Int32(found.count), 0)
            for (i, detections) in found.enumerated() {
                lua_createtable(L, Int32(detections.count), 0)
                for (j, d) in detections.enumerated() {
                    lua_createtable(L, 0, 6)
                    for (name, v) in [("x1", d.box.x1), ("y1", d.box.y1), ("x2", d.box.x2), ("y2", d.box.y2), ("score", d.score)] {
                        lua_pushnumber(L, Double(v))
                        rawSetField(L, -2, name)
                    }
                    lua_pushinteger(L, lua_Integer(d.box.label))
                    rawSetField(L, -2, "class")
                    lua_rawseti(L, -2, lua_Integer(j + 1))
                }
                lua_rawseti(L, -2, lua_Integer(i + 1))
            }
            return 1
        }),
    ]

    private static func detector(_ a: LuaArgs) throws -> Detector {
        let m = try a.module(1)
        guard let det = m as? Detector else { throw a.error(1, "detector expected, got \(m.typeName)") }
        return det
    }

    /// `nms = 0.5` (IoU threshold), `nms = false` (none); 0.5 when absent.
    private static func nmsOption(_ a: LuaArgs, _ o: LuaOptions) throws -> Float? {
        guard let i = o.index else { return 0.5 }
        let L = a.L
        let t = rawGetField(L, i, "nms")
        defer { smia_pop(L, 1) }
        switch t {
        case LUA_TNIL: return 0.5
        case LUA_TBOOLEAN:
            guard lua_toboolean(L, -1) == 0 else { throw a.error(i, "option 'nms': an IoU threshold or false expected, got true") }
            return nil
        case LUA_TNUMBER:
            let v = lua_tonumberx(L, -1, nil)
            guard v >= 0, v <= 1 else { throw a.error(i, "option 'nms': IoU threshold must be in [0, 1], got \(v)") }
            return Float(v)
        default:
            throw a.error(i, "option 'nms': number or false expected, got \(describeValue(L, -1))")
        }
    }

    /// The head outputs: the table `det(x)` returned, or `forward`'s concatenated tensor.
    private static func headsArgument(_ a: LuaArgs, _ i: Int32, _ det: Detector) throws -> DetectorHeads {
        if let t = TensorBox.get(a.L, i) {
            return try DetectorHeads(concatenated: t, numClasses: det.numClasses)
        }
        guard a.type(i) == LUA_TTABLE else { throw a.typeError(i, "table of head outputs {heatmap, size, offset}") }
        let L = a.L
        var parts: [Tensor] = []
        for name in ["heatmap", "size", "offset"] {
            rawGetField(L, i, name)
            defer { smia_pop(L, 1) }
            guard let t = TensorBox.get(L, -1) else {
                throw a.error(i, "field '\(name)': tensor expected, got \(luaTypeName(L, -1))")
            }
            parts.append(t)
        }
        guard parts[0].rank == 4, parts[0].shape[1] == det.numClasses else {
            throw a.error(i, "field 'heatmap': expected size (N, \(det.numClasses), h, w), got \(describeShape(parts[0].shape))")
        }
        return try DetectorHeads(heatmap: parts[0], size: parts[1], offset: parts[2])
    }

    /// A list per image of boxes.
    static func boxLists(_ a: LuaArgs, _ i: Int32) throws -> [[Box]] {
        guard a.type(i) == LUA_TTABLE else { throw a.typeError(i, "table of boxes per image") }
        let L = a.L
        var images: [[Box]] = []
        for k in 1..<(Int(lua_rawlen(L, i)) + 1) {
            lua_rawgeti(L, i, lua_Integer(k))
            defer { smia_pop(L, 1) }
            guard lua_type(L, -1) == LUA_TTABLE else {
                throw a.error(i, "image \(k): table of boxes expected, got \(describeValue(L, -1))")
            }
            var boxes: [Box] = []
            for j in 1..<(Int(lua_rawlen(L, -1)) + 1) {
                lua_rawgeti(L, -1, lua_Integer(j))
                defer { smia_pop(L, 1) }
                boxes.append(try box(a, i, image: k, box: j))
            }
            images.append(boxes)
        }
        return images
    }

    /// The box on top of the stack: `{x1, y1, x2, y2, class}` or with those names.
    private static func box(_ a: LuaArgs, _ arg: Int32, image: Int, box j: Int) throws -> Box {
        let L = a.L
        let at = "image \(image), box \(j)"
        guard lua_type(L, -1) == LUA_TTABLE else { throw a.error(arg, "\(at): table {x1, y1, x2, y2, class} expected, got \(describeValue(L, -1))") }
        let named = lua_rawlen(L, -1) == 0
        var values: [Double] = []
        for (k, name) in ["x1", "y1", "x2", "y2", "class"].enumerated() {
            let t = named ? rawGetField(L, -1, name) : lua_rawgeti(L, -1, lua_Integer(k + 1))
            defer { smia_pop(L, 1) }
            guard t == LUA_TNUMBER else { throw a.error(arg, "\(at): field '\(name)': number expected, got \(describeValue(L, -1))") }
            values.append(lua_tonumberx(L, -1, nil))
        }
        guard let label = Int(exactly: values[4]) else {
            throw a.error(arg, "\(at): class must be an integer (0-based), got \(values[4])")
        }
        return Box(x1: Float(values[0]), y1: Float(values[1]), x2: Float(values[2]), y2: Float(values[3]), label: label)
    }
}
