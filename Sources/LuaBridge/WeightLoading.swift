import CLua
import CLuaShim
import Foundation
import Tensor

/// `m:load_weights(path[, options])`, and `m:load_state_dict(t)` (strict). Options:
/// - `strict` (true): every name present, known and of the right shape, else an error that
///   counts what is not, with a few names and a hint when a common prefix explains them;
///   false loads what fits and writes that account to stderr;
/// - `strip_prefix` (none): removed from the front of the file's names that start with it
///   (`"module."` for weights saved from PyTorch's `DataParallel`).
/// Both return the module and a table: `loaded` (count), `missing`, `unexpected`, `mismatched`
/// (lists of names), `summary` (the account, "" when everything fit).
enum WeightLoading {
    struct Options {
        var strict = true
        var stripPrefix: String?
    }

    static let names = ["strict", "strip_prefix"]

    static func options(_ a: LuaArgs, _ i: Int32) throws -> Options {
        let o = try LuaOptions(a, i, names: names)
        return Options(strict: try o.boolean("strict", default: true), stripPrefix: try o.string("strip_prefix"))
    }

    static func load(_ a: LuaArgs, _ m: Module, _ entries: [(name: String, tensor: Tensor)], source: String,
                     _ options: Options) throws -> Int32 {
        let match = try m.loadStateDict(entries, source: source, strict: options.strict, stripPrefix: options.stripPrefix)
        if !match.isExact {
            FileHandle.standardError.write(Data("load_weights: \(source): loaded \(match.matched) of \(m.stateDict().count) tensors; \(match.summary)\n".utf8))
        }
        let L = a.L
        lua_pushvalue(L, 1)
        lua_createtable(L, 0, 5)
        lua_pushinteger(L, lua_Integer(match.matched))
        rawSetField(L, -2, "loaded")
        for (key, list) in [("missing", match.missing), ("unexpected", match.unexpected), ("mismatched", match.mismatched.map(\.name))] {
            lua_createtable(L, Int32(list.count), 0)
            for (k, name) in list.enumerated() {
                pushString(L, name)
                lua_rawseti(L, -2, lua_Integer(k + 1))
            }
            rawSetField(L, -2, key)
        }
        pushString(L, match.isExact ? "" : match.summary)
        rawSetField(L, -2, "summary")
        return 2
    }
}
