import Attacks
import CLua
import CLuaShim
import Tensor

/// `smia.report`: results tables and attack pictures.
///
/// Results are a Lua list of rows, each a table with `task` and `method` (strings) and figures
/// by name (numbers, fractions not percent): `{task = "fundus", method = "pgd", accuracy = 0.31}`.
/// - `smia.report.write(rows, dir[, {title = ..., markdown = text, run = {name = value}}])` writes
///   `dir/tables.md` (one Markdown table per task, or the given text), `dir/results.csv` and
///   `dir/results.json`, each atomically; returns their paths. With `run` (the run's settings),
///   the CSV starts with `# name: value` lines and the JSON is `{"run": {...}, "results": [rows]}`.
/// - `smia.report.markdown(rows[, {title = ..., columns = {names}}])`, `.csv(rows)`,
///   `.json(rows)` return the text.
/// - `smia.report.heat_map(eta[, scale])`: perturbations (N, C, H, W) as RGB heat maps (blue
///   negative, white zero, red positive, full colour at ±scale, default the largest magnitude).
/// - `smia.report.figure(path, columns[, {count =, scale =, padding =}])` writes a PNG grid, one
///   row per image and one column per entry of `columns`: `{images = t, labels = t, masks = t,
///   boxes = {{x1, y1, x2, y2, class}, ...} per image}` (all but `images` optional).
enum ReportBindings {
    static func open(_ L: OpaquePointer) {
        lua_createtable(L, 0, 6)
        setFunctions(L, prefix: "report.", [
            ("write", { a in
                var table = try resultsTable(a, 1)
                let directory = try a.string(2)
                let o = try LuaOptions(a, 3, names: ["title", "markdown", "run"])
                let text = try o.string("markdown")
                table.metadata = try runMetadata(a, 3)
                let paths = try named("write") { try table.write(to: directory, title: try o.string("title"), markdown: text) }
                lua_createtable(a.L, Int32(paths.count), 0)
                for (k, path) in paths.enumerated() {
                    pushString(a.L, path)
                    lua_rawseti(a.L, -2, lua_Integer(k + 1))
                }
                return 1
            }),
            ("markdown", { a in
                let table = try resultsTable(a, 1)
                let o = try LuaOptions(a, 2, names: ["title", "columns"])
                return a.push(table.markdown(title: try o.string("title"), columns: try o.strings("columns")))
            }),
            ("csv", { a in a.push(try resultsTable(a, 1).csv()) }),
            ("json", { a in a.push(try resultsTable(a, 1).json()) }),
            ("heat_map", { a in
                let eta = try a.tensor(1)
                let scale = try a.optionalNumber(2)
                if let s = scale, !(s.isFinite && s >= 0) { throw a.error(2, "scale must be a non-negative number, got \(s)") }
                return a.push(try named("heat_map") { try AttackFigure.heatMap(eta, scale: scale.map(Float.init)) })
            }),
            ("figure", { a in
                let path = try a.string(1)
                let columns = try figureColumns(a, 2)
                let o = try LuaOptions(a, 3, names: ["count", "scale", "padding"])
                let count = try o.integer("count")
                if let c = count, c < 1 { throw a.error(3, "count must be at least 1, got \(c)") }
                let scale = try o.integer("scale", default: 2), padding = try o.integer("padding", default: 2)
                guard (1...16).contains(scale) else { throw a.error(3, "scale must be in 1...16, got \(scale)") }
                guard (0...64).contains(padding) else { throw a.error(3, "padding must be in 0...64, got \(padding)") }
                try named("figure") {
                    let picture = try AttackFigure.grid(columns, count: count, padding: padding, scale: scale)
                    try PNGImage.write(path: path, tensor: picture)
                }
                return a.push(path)
            }),
        ])
    }

    /// Names the Lua function in front of an engine error.
    private static func named<R>(_ name: String, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as TensorError {
            throw LuaError("\(name): \(error.message)")
        }
    }

    /// The `run` field of the options at argument `i` (a table name → string or number), sorted
    /// by name.
    private static func runMetadata(_ a: LuaArgs, _ i: Int32) throws -> [(String, String)] {
        let L = a.L
        guard lua_type(L, i) == LUA_TTABLE else { return [] }
        let type = rawGetField(L, i, "run")
        defer { smia_pop(L, 1) }
        if type <= LUA_TNIL { return [] }
        guard type == LUA_TTABLE else { throw a.error(i, "option 'run' must be a table of names to strings, got \(luaTypeName(L, -1))") }
        let table = lua_gettop(L)
        var out: [(String, String)] = []
        lua_pushnil(L)
        while lua_next(L, table) != 0 {
            defer { smia_pop(L, 1) }
            let t = lua_type(L, -1)
            guard lua_type(L, -2) == LUA_TSTRING, let key = stringValue(L, -2),
                  t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN else {
                throw a.error(i, "option 'run' must map names to strings or numbers, got \(describeValue(L, -2)) = \(luaTypeName(L, -1))")
            }
            out.append((key, t == LUA_TBOOLEAN ? (lua_toboolean(L, -1) != 0 ? "true" : "false") : stringValue(L, -1) ?? ""))
        }
        return out.sorted { $0.0 < $1.0 }
    }

    /// The rows at argument `i`: a list of tables with string `task` and `method` and numbers.
    private static func resultsTable(_ a: LuaArgs, _ i: Int32) throws -> ResultsTable {
        try a.checkTable(i)
        let L = a.L
        let n = Int(lua_rawlen(L, i))
        var rows: [ResultRow] = []
        for r in stride(from: 1, through: n, by: 1) {
            lua_rawgeti(L, i, lua_Integer(r))
            defer { smia_pop(L, 1) }
            guard lua_type(L, -1) == LUA_TTABLE else {
                throw a.error(i, "row \(r) must be a table, got \(luaTypeName(L, -1))")
            }
            let row = lua_gettop(L)
            var task = "", method = ""
            var values: [String: Double] = [:]
            lua_pushnil(L)
            while lua_next(L, row) != 0 {
                defer { smia_pop(L, 1) }
                guard lua_type(L, -2) == LUA_TSTRING, let key = stringValue(L, -2) else {
                    throw a.error(i, "row \(r): keys must be names, got \(describeValue(L, -2))")
                }
                if key == "task" || key == "method" {
                    guard lua_type(L, -1) == LUA_TSTRING, let text = stringValue(L, -1) else {
                        throw a.error(i, "row \(r): '\(key)' must be a string, got \(luaTypeName(L, -1))")
                    }
                    if key == "task" { task = text } else { method = text }
                    continue
                }
                switch lua_type(L, -1) {
                case LUA_TNUMBER: values[key] = lua_tonumberx(L, -1, nil)
                case LUA_TBOOLEAN: values[key] = lua_toboolean(L, -1) != 0 ? 1 : 0
                default: throw a.error(i, "row \(r): '\(key)' must be a number, got \(luaTypeName(L, -1))")
                }
            }
            guard !task.isEmpty, !method.isEmpty else {
                throw a.error(i, "row \(r) needs a 'task' and a 'method' (strings)")
            }
            rows.append(ResultRow(task: task, method: method, values: values))
        }
        return ResultsTable(rows: rows)
    }

    /// The columns at argument `i` of `figure`.
    static let columnKeys = ["images", "labels", "masks", "boxes"]

    /// A misspelt field of a column (`label` for `labels`) would silently draw nothing.
    private static func checkColumnKeys(_ a: LuaArgs, _ i: Int32, _ column: Int32, _ j: Int) throws {
        let L = a.L
        lua_pushnil(L)
        while lua_next(L, column) != 0 {
            smia_pop(L, 1)
            guard lua_type(L, -1) == LUA_TSTRING, let key = stringValue(L, -1), columnKeys.contains(key) else {
                let shown = describeValue(L, -1)
                smia_pop(L, 1)
                throw a.error(i, "column \(j): unknown field \(shown) (expected \(columnKeys.joined(separator: ", ")))")
            }
        }
    }

    private static func figureColumns(_ a: LuaArgs, _ i: Int32) throws -> [AttackFigure.Column] {
        try a.checkTable(i)
        let L = a.L
        let n = Int(lua_rawlen(L, i))
        guard n >= 1 else { throw a.error(i, "expected a list of columns, got an empty table") }
        var columns: [AttackFigure.Column] = []
        for j in 1...n {
            lua_rawgeti(L, i, lua_Integer(j))
            defer { smia_pop(L, 1) }
            guard lua_type(L, -1) == LUA_TTABLE else { throw a.error(i, "column \(j) must be a table, got \(luaTypeName(L, -1))") }
            let column = lua_gettop(L)
            try checkColumnKeys(a, i, column, j)
            func tensorField(_ name: String, required: Bool) throws -> Tensor? {
                let type = rawGetField(L, column, name)
                defer { smia_pop(L, 1) }
                if type <= LUA_TNIL {
                    if required { throw a.error(i, "column \(j): '\(name)' (a tensor) is missing") }
                    return nil
                }
                guard let t = TensorBox.get(L, -1) else {
                    throw a.error(i, "column \(j): '\(name)' must be a tensor, got \(luaTypeName(L, -1))")
                }
                return t
            }
            guard let images = try tensorField("images", required: true) else { continue }
            var entry = AttackFigure.Column(images: images, labels: try tensorField("labels", required: false),
                                            masks: try tensorField("masks", required: false))
            if rawGetField(L, column, "boxes") > LUA_TNIL {
                entry.boxes = try BoxTables.read(L, -1, scored: false) { a.error(i, "column \(j): 'boxes': \($0)") }
                    .map { $0.map(\.box) }
            }
            smia_pop(L, 1)
            columns.append(entry)
        }
        return columns
    }
}
