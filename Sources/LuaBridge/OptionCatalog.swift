import CLua
import CLuaShim

/// The option tables the constructors read, recorded while `smia.options_read(f, ...)` runs a
/// call: each table's accepted names and the defaults its readers were given. The reference
/// (`docs/reference.md`, `help`) lists options from these records, so it names exactly what the
/// code reads, with the code's defaults. Outside such a call nothing is recorded.
final class OptionRecord {
    let function: String
    let names: [String]
    let positional: [String]
    /// Default of each option read with one, as Lua would print it ("required" when it has none).
    private(set) var defaults: [(name: String, value: String)] = []

    init(function: String, names: [String], positional: [String]) {
        self.function = function
        self.names = names
        self.positional = positional
    }

    func noteDefault(_ name: String, _ value: String) {
        guard !defaults.contains(where: { $0.name == name }) else { return }
        defaults.append((name, value))
    }
}

enum OptionCatalog {
    /// The records of the running `smia.options_read`, nil when none runs.
    nonisolated(unsafe) static var recording: [OptionRecord]?

    /// A record for an option table being read, when recording.
    static func open(function: String, names: [String], positional: [String]) -> OptionRecord? {
        guard recording != nil else { return nil }
        let record = OptionRecord(function: function, names: names, positional: positional)
        recording?.append(record)
        return record
    }

    /// A default as Lua source: integers and short decimals plainly (0.02), other fractions of
    /// 1/255 as `k/255` (image budgets: 8/255, 0.5/255), anything else to 6 digits.
    static func describe(_ v: Double) -> String {
        if v == v.rounded(), Swift.abs(v) < 1e15 { return String(Int64(v)) }
        let short = String(format: "%.4g", v)
        if let back = Double(short), Float(back) == Float(v) { return short }
        let k = v * 255
        // Below 1e15, like the integers above: Int64 of a larger value would trap.
        if Swift.abs(k) < 1e15, Swift.abs(k * 8 - (k * 8).rounded()) < 1e-3 * Swift.max(1, Swift.abs(k)) {
            let eighths = (k * 8).rounded() / 8
            return (eighths == eighths.rounded() ? String(Int64(eighths)) : String(eighths)) + "/255"
        }
        return String(format: "%.6g", v)
    }

    /// `smia.options_read(f, ...)`: calls `f(...)` (protected; its error is returned, not
    /// raised) and returns a list of the option tables read, each
    /// `{function = name, names = {...}, positional = {...}, defaults = {{name, value}, ...}}`,
    /// then `true` or `false, message`.
    static let read: LuaBody = { a in
        let L = a.L
        try a.checkFunction(1)
        guard recording == nil else { throw a.failure("calls cannot be nested") }
        recording = []
        let status = smia_pcall_traceback(L, a.count - 1, 0)
        let records = recording ?? []
        recording = nil
        var failure: String?
        if status != LUA_OK {
            failure = errorMessage(L, at: -2) // the message, under the traceback
            smia_pop(L, 2)
        }
        lua_createtable(L, Int32(records.count), 0)
        for (k, record) in records.enumerated() {
            lua_createtable(L, 0, 4)
            pushString(L, record.function)
            rawSetField(L, -2, "function")
            pushStrings(L, record.names)
            rawSetField(L, -2, "names")
            pushStrings(L, record.positional)
            rawSetField(L, -2, "positional")
            lua_createtable(L, Int32(record.defaults.count), 0)
            for (i, entry) in record.defaults.enumerated() {
                pushStrings(L, [entry.name, entry.value])
                lua_rawseti(L, -2, lua_Integer(i + 1))
            }
            rawSetField(L, -2, "defaults")
            lua_rawseti(L, -2, lua_Integer(k + 1))
        }
        guard let failure else {
            lua_pushboolean(L, 1)
            return 2
        }
        lua_pushboolean(L, 0)
        pushString(L, failure)
        return 3
    }

    private static func pushStrings(_ L: OpaquePointer, _ list: [String]) {
        lua_createtable(L, Int32(list.count), 0)
        for (i, s) in list.enumerated() {
            pushString(L, s)
            lua_rawseti(L, -2, lua_Integer(i + 1))
        }
    }
}
