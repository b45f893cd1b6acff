import CLua
import CLuaShim
import Tensor

extension LuaOptions {
    /// The `window` option of DICOM reading: `{center =, width =}` (or `{center, width}`),
    /// `"file"`, `"range"` or `"minmax"`; nil when absent (each file's own window, else its
    /// bit depth's range). See `DICOM.Window`.
    func dicomWindow(_ name: String = "window") throws -> DICOM.Window? {
        let L = args.L
        let t = pushValue(name)
        defer { smia_pop(L, 1) }
        let expected = "{center =, width =}, \"file\", \"range\" or \"minmax\""
        let fail = { (what: String) in self.args.error(self.index ?? 1, "option '\(name)': \(what)") }
        switch t {
        case LUA_TNIL:
            return nil
        case LUA_TSTRING:
            switch stringValue(L, -1) {
            case "file": return .file
            case "range": return .range
            case "minmax": return .minmax
            case let other: throw fail("expected \(expected), got '\(other ?? "")'")
            }
        case LUA_TTABLE:
            func number(_ key: String, _ position: Int) throws -> Double {
                var kind = rawGetField(L, -1, key)
                if kind == LUA_TNIL {
                    smia_pop(L, 1)
                    kind = lua_rawgeti(L, -1, lua_Integer(position))
                }
                defer { smia_pop(L, 1) }
                guard kind == LUA_TNUMBER else { throw fail("'\(key)' must be a number, got \(luaTypeName(L, -1))") }
                let v = lua_tonumberx(L, -1, nil)
                guard v.isFinite else { throw fail("'\(key)' must be finite, got \(v)") }
                return v
            }
            let center = try number("center", 1)
            let width = try number("width", 2)
            guard width > 0 else { throw fail("'width' must be positive, got \(width)") }
            return .explicit(center: center, width: width)
        default:
            throw fail("expected \(expected), got \(describeValue(L, -1))")
        }
    }
}
