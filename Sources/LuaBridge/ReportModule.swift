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
///   the CSV starts with `# name: value` lines and every row of the JSON array carries it as `run`.
/// - `smia.report.markdown(rows[, {title = ..., columns = {names}}])`, `.csv(rows)`,
///   `.json(rows)` return the text.
/// - `smia.report.heat_map(eta[, scale])`: perturbations (N, C, H, W) as RGB heat maps (blue
///   negative, white zero, red positive, full colour at ±scale, default the largest magnitude).
/// - `smia.report.figure(path, columns[, options])` or `smia.report.figure(path, figure)` writes
///   a labelled PNG: one row per image and one column per entry of `columns`, `{images = t,
///   labels = t, truth = t, masks = t, boxes = {{x1, y1, x2, y2, class}, ...} per image, title =
///   "PGD", group = "DEV", captions = {one string per image}}` (all but `images` optional); the
///   options (or the figure table's fields beside `columns`) are `title`, `caption`, `classes`
///   (names by label, for captions and the legend), `eps` (the heat maps' full-colour value: a
///   colour scale in units of ε), `count`, `scale` (enlargement; default: small images to 112
///   px) and `padding` (see `FigureTables`, `LabelledFigure`).
/// - `smia.report.html(rows, path[, {title =, markdown =, figures = {...}}])` writes a
///   self-contained HTML page: the tables (`markdown`, by default the rows' tables) and the
///   figures, each a figure table as above (with `png`, the path of its PNG, linked) or the
///   path of a PNG shown as it is (see `HTMLReport`).
enum ReportBindings {
    static func open(_ L: OpaquePointer) {
        lua_createtable(L, 0, 7)
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
                try a.checkTable(2)
                let fail: (Int32) -> (String) -> LuaError = { i in { a.error(i, $0) } }
                let figure: LabelledFigure
                let isFigureTable = rawGetField(a.L, 2, "columns") > LUA_TNIL
                smia_pop(a.L, 1)
                if isFigureTable {
                    // One figure table: its columns and options together, as smia.report.html takes it.
                    guard a.isNil(3) else { throw a.error(3, "no options expected after a figure table (they go in the table)") }
                    try FigureTables.checkKeys(a.L, 2, FigureTables.figureKeys.filter { $0 != "png" }, "figure", fail: fail(2))
                    rawGetField(a.L, 2, "columns")
                    let columns = try FigureTables.columns(a.L, -1, "columns", fail: fail(2))
                    smia_pop(a.L, 1)
                    figure = try FigureTables.figure(a.L, 2, columns: columns, "figure", fail: fail(2))
                } else {
                    let columns = try FigureTables.columns(a.L, 2, "columns", fail: fail(2))
                    if !a.isNil(3) {
                        guard a.type(3) == LUA_TTABLE else { throw a.typeError(3, "table of options") }
                        try FigureTables.checkKeys(a.L, 3, FigureTables.optionKeys, "options", fail: fail(3))
                    }
                    figure = try FigureTables.figure(a.L, 3, columns: columns, "options", fail: fail(3))
                }
                try named("figure") { try PNGImage.write(path: path, tensor: try figure.render()) }
                return a.push(path)
            }),
            ("html", { a in
                let table = try resultsTable(a, 1)
                let path = try a.string(2)
                let o = try LuaOptions(a, 3, names: ["title", "markdown", "figures"])
                var figures: [HTMLReport.Figure] = []
                if let i = o.index, rawGetField(a.L, i, "figures") > LUA_TNIL {
                    figures = try FigureTables.reportFigures(a.L, -1) { a.error(3, $0) }
                }
                if o.index != nil { smia_pop(a.L, 1) }
                let report = HTMLReport(title: try o.string("title"), markdown: try o.string("markdown") ?? table.markdown(),
                                        figures: figures)
                try named("html") { try report.write(to: path) }
                return a.push(path)
            }),
        ])
    }

    /// Names the Lua function in front of an engine error.
    private static func named<R>(_ name: String, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as TensorError {
            // Engine messages may already start with the name ("figure: column 2: ...").
            throw LuaError(error.message.hasPrefix("\(name): ") ? error.message : "\(name): \(error.message)")
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
}
