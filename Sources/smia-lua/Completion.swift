// Tab completion in the REPL: globals and keywords, fields after `.`, methods after `:`.
//
// The candidates come from a small Lua function run under lua_pcall, so no Lua error can
// cross Swift. It never runs user code: it reads tables raw and follows only `__index`
// *tables*. For a value whose metatable's `__index` is a function (typically userdata whose
// methods are resolved natively) it lists the keys of the metatable's `methods` (or
// `__methods`) table, when there is one: that is the convention the bindings follow (tensors,
// modules, datasets, optimizers) to make their methods completable.

import CEditLine
import CLua
import CLuaShim
import Glibc

enum Completion {
    private static var host: LuaHost?
    private static var completer: Int32 = LUA_NOREF

    /// Characters that end the word being completed; `.` and `:` are not among them, so the
    /// word is a whole path like `smia.tensor.ze` or `t:resh`.
    private static let wordBreaks = UnsafePointer(strdup(" \t\n\"\\'`@$><=;|&{(+-*/%^~#,)}[]"))

    /// Compiles the completer. The host calls this before any user code (LUA_INIT, `-e`, the
    /// script) runs, so the library functions the completer keeps are the original ones.
    static func prepare(host: LuaHost) {
        let L = host.L
        let top = lua_gettop(L)
        guard host.load(Array(source.utf8), chunkName: "=[completion]") == LUA_OK,
              smia_host_docall(L, 0, 1) == LUA_OK,
              lua_type(L, -1) == LUA_TFUNCTION
        else {
            lua_settop(L, top) // no completion, but a working REPL
            return
        }
        completer = luaL_ref(L, luaRegistryIndex)
        self.host = host
    }

    /// Hooks the completer into libedit, after the line editor is initialized.
    static func install() {
        guard host != nil else { return }
        rl_attempted_completion_function = { text, start, end in Completion.complete(text, start, end) }
        rl_basic_word_break_characters = wordBreaks
        rl_completion_append_character = 0
    }

    /// libedit's callback: the word before the cursor → a malloc'd, NULL-terminated array
    /// whose first entry replaces the word (the common prefix) and the others are the matches.
    private static func complete(_ text: UnsafePointer<CChar>?, _: Int32, _: Int32)
        -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
        rl_attempted_completion_over = 1 // never fall back to file names
        guard let text else { return nil }
        let word = Array(UnsafeBufferPointer(start: UnsafeRawPointer(text).assumingMemoryBound(to: UInt8.self),
                                             count: strlen(text)))
        let matches = candidates(for: word)
        guard !matches.isEmpty else { return nil }
        guard let array = calloc(matches.count + 2, MemoryLayout<UnsafeMutablePointer<CChar>?>.stride)?
            .assumingMemoryBound(to: UnsafeMutablePointer<CChar>?.self)
        else { return nil }
        array[0] = cString(commonPrefix(of: matches))
        for (i, match) in matches.enumerated() {
            array[i + 1] = cString(match)
        }
        return array
    }

    /// The completions of `word`, sorted; empty if there are none.
    static func candidates(for word: [UInt8]) -> [[UInt8]] {
        guard let host, completer != LUA_NOREF else { return [] }
        let L = host.L
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        guard lua_checkstack(L, 4) != 0 else { return [] }
        lua_rawgeti(L, luaRegistryIndex, lua_Integer(completer))
        word.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { _ = lua_pushlstring(L, $0.baseAddress, $0.count) }
        }
        guard smia_host_docall(L, 1, 1) == LUA_OK, lua_type(L, -1) == LUA_TTABLE else { return [] }
        let count = lua_rawlen(L, -1)
        var result: [[UInt8]] = []
        result.reserveCapacity(Int(count))
        for i in 0..<count {
            lua_rawgeti(L, -1, lua_Integer(i + 1))
            if let bytes = host.stringBytes(at: -1) { result.append(bytes) }
            lua_settop(L, -2)
        }
        return result
    }

    private static func commonPrefix(of words: [[UInt8]]) -> [UInt8] {
        guard var prefix = words.first else { return [] }
        for word in words.dropFirst() {
            let shared = zip(prefix, word).prefix { $0 == $1 }.count
            prefix.removeLast(prefix.count - shared)
        }
        return prefix
    }

    private static func cString(_ bytes: [UInt8]) -> UnsafeMutablePointer<CChar>? {
        guard let memory = malloc(bytes.count + 1)?.assumingMemoryBound(to: UInt8.self) else { return nil }
        for (i, byte) in bytes.enumerated() { memory[i] = byte }
        memory[bytes.count] = 0
        return UnsafeMutableRawPointer(memory).assumingMemoryBound(to: CChar.self)
    }

    /// The completer, in Lua: `word` → sorted list of the words that complete it.
    private static let source = """
        local next, type, rawget, sort = next, type, rawget, table.sort
        local match, sub, gmatch = string.match, string.sub, string.gmatch
        local getmetatable = debug.getmetatable
        local globals = _ENV
        local keywords = {}
        local reserved = "and break do else elseif end false for function goto if in local "
          .. "nil not or repeat return then true until while"
        for word in gmatch(reserved, "%a+") do keywords[word] = true end

        local function isName(key)
          return type(key) == "string" and match(key, "^[%a_][%w_]*$") ~= nil
            and not keywords[key]
        end

        local function isCallable(value)
          if type(value) == "function" then return true end
          local mt = getmetatable(value)
          return type(mt) == "table" and rawget(mt, "__call") ~= nil
        end

        -- obj[key] without running any metamethod: raw, then along __index tables.
        local function lookup(obj, key)
          for _ = 1, 64 do
            if type(obj) == "table" then
              local value = rawget(obj, key)
              if value ~= nil then return value end
            end
            local mt = getmetatable(obj)
            local index = type(mt) == "table" and rawget(mt, "__index") or nil
            if type(index) ~= "table" then return nil end
            obj = index
          end
          return nil
        end

        -- The names reachable from obj: its own keys if a table, those of its __index tables,
        -- and where __index is a function, those of the metatable's methods (or __methods) table.
        local function collect(obj, methodsOnly, names)
          for _ = 1, 64 do
            if type(obj) == "table" then
              for key, value in next, obj do
                if isName(key) and (not methodsOnly or isCallable(value)) then
                  names[key] = true
                end
              end
            end
            local mt = getmetatable(obj)
            if type(mt) ~= "table" then return end
            local index = rawget(mt, "__index")
            if type(index) ~= "table" then
              local methods = rawget(mt, "methods") or rawget(mt, "__methods")
              if type(methods) == "table" then
                for key in next, methods do
                  if isName(key) then names[key] = true end
                end
              end
              return
            end
            obj = index
          end
        end

        return function(word)
          local names, prefix, head = {}, word, ""
          local path, sep, last = match(word, "^(.*)([.:])([%w_]*)$")
          if path then
            local obj = globals
            for part in gmatch(path .. ".", "(.-)%.") do
              if not isName(part) then return {} end
              obj = lookup(obj, part)
              if obj == nil then return {} end
            end
            collect(obj, sep == ":", names)
            prefix, head = last, path .. sep
          else
            collect(globals, false, names)
            for keyword in next, keywords do names[keyword] = true end
          end
          local list = {}
          for name in next, names do
            if sub(name, 1, #prefix) == prefix then list[#list + 1] = head .. name end
          end
          sort(list)
          return list
        end
        """
}
