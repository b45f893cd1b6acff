import Attacks
import CLua
import CLuaShim
import Tensor

/// Figures in Lua, as `smia.report.figure` and `smia.report.html` take them.
///
/// A column is a table `{images = t, labels = t, truth = t, masks = t, boxes = {...}, title =
/// "PGD", group = "DEV", captions = {"Var 1e-4", ...}}` (all but `images` optional; see
/// `AttackFigure.Column`). A figure is a table of the options below with its `columns`:
/// `{columns = {...}, title = ..., caption = ..., classes = {names}, eps = 8/255, count = 4,
/// scale = 4, padding = 6, png = "figures/x.png"}`. Every key is checked: an unknown one is an
/// error naming it. On an error the stack is left as it is: the call ends there.
enum FigureTables {
    static let columnKeys = ["images", "labels", "masks", "boxes", "truth", "title", "group", "captions"]
    /// The options of a figure (`smia.report.figure`'s third argument).
    static let optionKeys = ["title", "caption", "classes", "eps", "count", "scale", "padding"]
    /// A figure of `smia.report.html`: the options, its columns, and `png`, the path of the same
    /// figure as a PNG (linked under it; without columns, the PNG is shown as it is).
    static let figureKeys = ["columns"] + optionKeys + ["png"]

    /// Fails on a string key of the table at `index` that `allowed` does not list.
    static func checkKeys(_ L: OpaquePointer, _ index: Int32, _ allowed: [String], _ what: String,
                          fail: (String) -> LuaError) throws {
        let i = lua_absindex(L, index)
        lua_pushnil(L)
        while lua_next(L, i) != 0 {
            smia_pop(L, 1)
            guard lua_type(L, -1) == LUA_TSTRING, let key = stringValue(L, -1) else {
                throw fail("\(what): keys must be names (expected \(allowed.joined(separator: ", "))), got key \(describeValue(L, -1))")
            }
            // A misspelt field (`label` for `labels`) would silently draw nothing.
            guard allowed.contains(key) else {
                throw fail("\(what): unknown field \(describeValue(L, -1)) (expected \(allowed.joined(separator: ", ")))")
            }
        }
    }

    /// The field `name` of the table at `index` as a string (nil when absent).
    static func string(_ L: OpaquePointer, _ index: Int32, _ name: String, _ what: String, fail: (String) -> LuaError) throws -> String? {
        let type = rawGetField(L, index, name)
        defer { smia_pop(L, 1) }
        if type <= LUA_TNIL { return nil }
        guard type == LUA_TSTRING, let s = stringValue(L, -1) else {
            throw fail("\(what): '\(name)' must be a string, got \(luaTypeName(L, -1))")
        }
        return s
    }

    /// The field `name` as a list of strings (nil when absent).
    static func strings(_ L: OpaquePointer, _ index: Int32, _ name: String, _ what: String, fail: (String) -> LuaError) throws -> [String]? {
        let type = rawGetField(L, index, name)
        defer { smia_pop(L, 1) }
        if type <= LUA_TNIL { return nil }
        guard type == LUA_TTABLE else { throw fail("\(what): '\(name)' must be a list of strings, got \(luaTypeName(L, -1))") }
        var out: [String] = []
        for k in stride(from: 1, through: Int(lua_rawlen(L, -1)), by: 1) {
            let isString = lua_rawgeti(L, -1, lua_Integer(k)) == LUA_TSTRING
            let v = stringValue(L, -1)
            smia_pop(L, 1)
            guard isString, let v else { throw fail("\(what): '\(name)' must be a list of strings, item \(k) is not a string") }
            out.append(v)
        }
        return out
    }

    static func number(_ L: OpaquePointer, _ index: Int32, _ name: String, _ what: String, fail: (String) -> LuaError) throws -> Double? {
        let type = rawGetField(L, index, name)
        defer { smia_pop(L, 1) }
        if type <= LUA_TNIL { return nil }
        guard type == LUA_TNUMBER else { throw fail("\(what): '\(name)' must be a number, got \(luaTypeName(L, -1))") }
        return lua_tonumberx(L, -1, nil)
    }

    static func integer(_ L: OpaquePointer, _ index: Int32, _ name: String, _ what: String, fail: (String) -> LuaError) throws -> Int? {
        let type = rawGetField(L, index, name)
        defer { smia_pop(L, 1) }
        if type <= LUA_TNIL { return nil }
        guard let v = integerValue(L, -1) else { throw fail("\(what): '\(name)' must be an integer, got \(describeValue(L, -1))") }
        return v
    }

    static func tensor(_ L: OpaquePointer, _ index: Int32, _ name: String, _ what: String, fail: (String) -> LuaError) throws -> Tensor? {
        let type = rawGetField(L, index, name)
        defer { smia_pop(L, 1) }
        if type <= LUA_TNIL { return nil }
        guard let t = TensorBox.get(L, -1) else { throw fail("\(what): '\(name)' must be a tensor, got \(luaTypeName(L, -1))") }
        return t
    }

    /// The list of columns at `index`.
    static func columns(_ L: OpaquePointer, _ index: Int32, _ what: String, fail: (String) -> LuaError) throws -> [AttackFigure.Column] {
        let list = lua_absindex(L, index)
        guard lua_type(L, list) == LUA_TTABLE else { throw fail("\(what): expected a list of columns, got \(luaTypeName(L, list))") }
        let n = Int(lua_rawlen(L, list))
        guard n >= 1 else { throw fail("\(what): expected a list of columns, got an empty table") }
        var columns: [AttackFigure.Column] = []
        for j in 1...n {
            lua_rawgeti(L, list, lua_Integer(j))
            defer { smia_pop(L, 1) }
            let name = "column \(j)"
            guard lua_type(L, -1) == LUA_TTABLE else { throw fail("\(name) must be a table, got \(luaTypeName(L, -1))") }
            let column = lua_gettop(L)
            try checkKeys(L, column, columnKeys, name, fail: fail)
            guard let images = try tensor(L, column, "images", name, fail: fail) else {
                throw fail("\(name): 'images' (a tensor) is missing")
            }
            var entry = AttackFigure.Column(images: images)
            entry.labels = try tensor(L, column, "labels", name, fail: fail)
            entry.truth = try tensor(L, column, "truth", name, fail: fail)
            entry.masks = try tensor(L, column, "masks", name, fail: fail)
            entry.title = try string(L, column, "title", name, fail: fail)
            entry.group = try string(L, column, "group", name, fail: fail)
            entry.captions = try strings(L, column, "captions", name, fail: fail)
            if rawGetField(L, column, "boxes") > LUA_TNIL {
                entry.boxes = try BoxTables.read(L, -1, scored: false) { fail("\(name): 'boxes': \($0)") }.map { $0.map(\.box) }
            }
            smia_pop(L, 1)
            columns.append(entry)
        }
        return columns
    }

    /// The options at `index` (a table, or nil for none) applied to a figure of `columns`.
    static func figure(_ L: OpaquePointer, _ index: Int32, columns: [AttackFigure.Column], _ what: String,
                       fail: (String) -> LuaError) throws -> LabelledFigure {
        var figure = LabelledFigure(columns: columns)
        guard lua_type(L, index) == LUA_TTABLE else { return figure }
        figure.title = try string(L, index, "title", what, fail: fail)
        figure.caption = try string(L, index, "caption", what, fail: fail)
        figure.classNames = try strings(L, index, "classes", what, fail: fail)
        if let eps = try number(L, index, "eps", what, fail: fail) {
            guard eps.isFinite, eps > 0 else { throw fail("\(what): 'eps' must be a positive number, got \(eps)") }
            figure.eps = eps
        }
        if let count = try integer(L, index, "count", what, fail: fail) {
            guard count >= 1 else { throw fail("\(what): count must be at least 1, got \(count)") }
            figure.count = count
        }
        if let scale = try integer(L, index, "scale", what, fail: fail) {
            guard (1...16).contains(scale) else { throw fail("\(what): scale must be in 1...16, got \(scale)") }
            figure.magnification = scale
        }
        if let padding = try integer(L, index, "padding", what, fail: fail) {
            guard (0...64).contains(padding) else { throw fail("\(what): padding must be in 0...64, got \(padding)") }
            figure.padding = padding
        }
        return figure
    }

    /// The figures of `smia.report.html` at `index`: each a figure table (see above) or the path
    /// of a PNG.
    static func reportFigures(_ L: OpaquePointer, _ index: Int32, fail: (String) -> LuaError) throws -> [HTMLReport.Figure] {
        let list = lua_absindex(L, index)
        guard lua_type(L, list) == LUA_TTABLE else { throw fail("'figures' must be a list of figures, got \(luaTypeName(L, list))") }
        var out: [HTMLReport.Figure] = []
        for k in stride(from: 1, through: Int(lua_rawlen(L, list)), by: 1) {
            let type = lua_rawgeti(L, list, lua_Integer(k))
            defer { smia_pop(L, 1) }
            let what = "figures[\(k)]"
            if type == LUA_TSTRING, let path = stringValue(L, -1) {
                out.append(.picture(path: path, title: nil, caption: nil))
                continue
            }
            guard type == LUA_TTABLE else { throw fail("\(what) must be a figure table or the path of a PNG, got \(luaTypeName(L, -1))") }
            let entry = lua_gettop(L)
            try checkKeys(L, entry, figureKeys, what, fail: fail)
            let png = try string(L, entry, "png", what, fail: fail)
            guard rawGetField(L, entry, "columns") > LUA_TNIL else {
                smia_pop(L, 1)
                guard let path = png else { throw fail("\(what) needs 'columns' or 'png'") }
                out.append(.picture(path: path, title: try string(L, entry, "title", what, fail: fail),
                                    caption: try string(L, entry, "caption", what, fail: fail)))
                continue
            }
            let columns = try self.columns(L, -1, what + ".columns") { fail("\(what): \($0)") }
            smia_pop(L, 1)
            out.append(.labelled(try figure(L, entry, columns: columns, what, fail: fail), picture: png))
        }
        return out
    }
}
