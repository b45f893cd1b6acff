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
            let heads = try heads(a, at: 2, det)
            let boxes = try BoxTables.read(a, 3, scored: false).map { $0.map(\.box) }
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
            let heads = try heads(a, at: 2, det)
            let o = try LuaOptions(a, 3, names: ["k", "threshold", "nms"])
            let decoder = try DetectionDecoder(k: o.positive("k", default: 100), threshold: Float(o.number("threshold", default: 0.3)),
                                               nmsIoU: nmsOption(a, o))
            let L = a.L
            let found = try decoder.decode(heads)
            lua_createtable(L, Int32(found.count), 0)
            for (i, detections) in found.enumerated() {
                lua_createtable(L, Int32(detections.count), 0)
                for (j, d) in detections.enumerated() {
                    BoxTables.push(L, d.box, score: d.score)
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

    /// The heads at stack index `i`: the table `det(x)` returns, or the concatenated tensor of
    /// `forward`. Errors name argument `argument` (`i` by default), after `context` (an option).
    static func heads(_ a: LuaArgs, at i: Int32, _ det: Detector, argument: Int32? = nil,
                      context: String = "") throws -> DetectorHeads {
        let position = argument ?? i
        if let t = TensorBox.get(a.L, i) {
            return try DetectorHeads(concatenated: t, numClasses: det.numClasses)
        }
        let L = a.L
        guard a.type(i) == LUA_TTABLE else {
            throw a.error(position, "\(context)table of head outputs {heatmap, size, offset} expected, got \(luaTypeName(L, i))")
        }
        var parts: [Tensor] = []
        for name in ["heatmap", "size", "offset"] {
            rawGetField(L, i, name)
            defer { smia_pop(L, 1) }
            guard let t = TensorBox.get(L, -1) else {
                throw a.error(position, "\(context)field '\(name)': tensor expected, got \(luaTypeName(L, -1))")
            }
            parts.append(t)
        }
        guard parts[0].rank == 4, parts[0].shape[1] == det.numClasses else {
            throw a.error(position, "\(context)field 'heatmap': expected size (N, \(det.numClasses), h, w), got \(describeShape(parts[0].shape))")
        }
        do {
            return try DetectorHeads(heatmap: parts[0], size: parts[1], offset: parts[2])
        } catch let error as TensorError {
            throw a.error(position, context + error.message)
        }
    }
}
