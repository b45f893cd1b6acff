import Attacks
import CLua
import CLuaShim

/// Boxes in Lua: a box is a table `{x1, y1, x2, y2, class}` (a detection adds `score` as a
/// sixth value), in pixel coordinates on pixel edges (see `Box`); boxes read from Lua may also
/// use the fields `x1`, `y1`, `x2`, `y2`, `class` (or `label`) and `score`. Boxes pushed to Lua
/// carry both forms. A set of boxes is a list with one list of boxes per image.
enum BoxTables {
    static func push(_ L: OpaquePointer, _ box: Box, score: Float? = nil) {
        lua_createtable(L, score == nil ? 5 : 6, score == nil ? 5 : 6)
        var values: [(String, Double)] = [("x1", Double(box.x1)), ("y1", Double(box.y1)), ("x2", Double(box.x2)),
                                          ("y2", Double(box.y2))]
        if let score { values.append(("score", Double(score))) }
        for (k, (name, v)) in values.enumerated() {
            lua_pushnumber(L, v)
            lua_pushvalue(L, -1)
            lua_rawseti(L, -3, lua_Integer(k < 4 ? k + 1 : 6))
            rawSetField(L, -2, name)
        }
        lua_pushinteger(L, lua_Integer(box.label))
        lua_pushvalue(L, -1)
        lua_rawseti(L, -3, 5)
        rawSetField(L, -2, "class")
    }

    static func push(_ L: OpaquePointer, list boxes: [Box]) {
        lua_createtable(L, Int32(boxes.count), 0)
        for (k, b) in boxes.enumerated() {
            push(L, b)
            lua_rawseti(L, -2, lua_Integer(k + 1))
        }
    }

    static func push(_ L: OpaquePointer, perImage boxes: [[Box]]) {
        lua_createtable(L, Int32(boxes.count), 0)
        for (k, list) in boxes.enumerated() {
            push(L, list: list)
            lua_rawseti(L, -2, lua_Integer(k + 1))
        }
    }

    /// One list of boxes per image from argument `i`; `scored` reads detections (a score each).
    static func read(_ a: LuaArgs, _ i: Int32, scored: Bool) throws -> [[Detection]] {
        try read(a.L, i, scored: scored) { a.error(i, $0) }
    }

    /// The same from the value at stack index `index` (an option), `fail` making the errors.
    static func read(_ L: OpaquePointer, _ index: Int32, scored: Bool, fail: (String) -> LuaError) throws -> [[Detection]] {
        let i = lua_absindex(L, index)
        guard lua_type(L, i) == LUA_TTABLE else { throw fail("list of boxes per image expected, got \(luaTypeName(L, i))") }
        var out: [[Detection]] = []
        let images = Int(lua_rawlen(L, i))
        // On an error the stack is left as it is: the call ends there.
        for image in stride(from: 1, through: images, by: 1) {
            guard lua_rawgeti(L, i, lua_Integer(image)) == LUA_TTABLE else {
                throw fail("expected a list of boxes per image, got a \(luaTypeName(L, -1)) for image \(image)")
            }
            var list: [Detection] = []
            for k in stride(from: 1, through: Int(lua_rawlen(L, -1)), by: 1) {
                lua_rawgeti(L, -1, lua_Integer(k))
                list.append(try detection(L, -1, scored: scored, requireClass: true) { fail("box \(k) of image \(image): \($0)") })
                smia_pop(L, 1)
            }
            smia_pop(L, 1)
            out.append(list)
        }
        return out
    }

    /// One box (or detection) from the table at `index`; without `requireClass`, a missing
    /// class is 0.
    static func detection(_ L: OpaquePointer, _ index: Int32, scored: Bool, requireClass: Bool,
                          fail: (String) -> LuaError) throws -> Detection {
        let t = lua_absindex(L, index)
        let noun = scored ? "{x1, y1, x2, y2, class, score}" : "{x1, y1, x2, y2, class}"
        guard lua_type(L, t) == LUA_TTABLE else { throw fail("table \(noun) expected, got \(luaTypeName(L, t))") }
        func field(_ position: Int, _ names: [String]) -> Double? {
            var value: Double? = nil
            if lua_rawgeti(L, t, lua_Integer(position)) == LUA_TNUMBER { value = lua_tonumberx(L, -1, nil) }
            smia_pop(L, 1)
            for name in names where value == nil {
                if rawGetField(L, t, name) == LUA_TNUMBER { value = lua_tonumberx(L, -1, nil) }
                smia_pop(L, 1)
            }
            return value
        }
        var c: [Float] = []
        for (p, name) in ["x1", "y1", "x2", "y2"].enumerated() {
            guard let v = field(p + 1, [name]), v.isFinite else {
                throw fail("\(name) must be a finite number (boxes are \(noun))")
            }
            c.append(Float(v))
        }
        let label = field(5, ["class", "label"]) ?? (requireClass ? -1 : 0)
        guard label >= 0, label == label.rounded(), label < 1e9 else {
            throw fail("class must be an integer >= 0 (boxes are \(noun))")
        }
        var score: Float = 1
        if scored {
            guard let s = field(6, ["score"]), s.isFinite else {
                throw fail("score must be a finite number (detections are \(noun))")
            }
            score = Float(s)
        }
        return Detection(box: Box(x1: c[0], y1: c[1], x2: c[2], y2: c[3], label: Int(label)), score: score)
    }
}
