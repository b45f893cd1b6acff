// The read-eval-print loop, as lua.c's doREPL: a line is first tried as `return <line>` so
// expressions print their values; a chunk whose syntax error ends at `<eof>` is unfinished
// and continues on the next line; errors print with a traceback and the loop goes on.

import CLua
import CLuaShim
import Glibc

final class REPL {
    private let host: LuaHost
    private let reader: LineReader
    private var L: OpaquePointer { host.L }

    init(host: LuaHost) {
        self.host = host
        if isatty(STDIN_FILENO) != 0 {
            reader = EditLineReader(historyFile: historyPath())
            Completion.install()
        } else {
            reader = PlainLineReader()
        }
    }

    private enum Loaded {
        case chunk(status: Int32) // a compiled function, or an error message, on the stack
        case interrupted
        case end
    }

    func run() {
        let savedName = host.programName
        host.programName = nil // no program name on errors in interactive mode
        smia_host_prompt_signal_install()
        defer {
            smia_host_prompt_signal_uninstall()
            host.programName = savedName
        }
        loop: while true {
            switch loadChunk() {
            case .end:
                break loop
            case .interrupted:
                writeOut("\n")
            case .chunk(var status):
                if status == LUA_OK {
                    status = smia_host_docall(L, 0, LUA_MULTRET)
                }
                if status == LUA_OK {
                    printResults()
                } else {
                    host.report(status)
                }
            }
        }
        lua_settop(L, 0)
        writeOut("\n")
    }

    // MARK: - Reading a chunk

    private func loadChunk() -> Loaded {
        lua_settop(L, 0)
        var line: [UInt8]
        switch readLine(first: true) {
        case .end: return .end
        case .interrupted: return .interrupted
        case .line(let bytes): line = bytes
        }
        if line.first == UInt8(ascii: "=") { // `=expr`, kept from Lua 5.1
            line = Array("return ".utf8) + line.dropFirst()
        }
        // An expression: print its values.
        if host.load(Array("return ".utf8) + line, chunkName: "=stdin") == LUA_OK {
            reader.remember(line)
            return .chunk(status: LUA_OK)
        }
        lua_settop(L, 0)
        // A statement, maybe on several lines.
        while true {
            let status = host.load(line, chunkName: "=stdin")
            guard isIncomplete(status) else {
                reader.remember(line)
                return .chunk(status: status)
            }
            switch readLine(first: false) {
            case .line(let more):
                lua_settop(L, 0)
                line += [UInt8(ascii: "\n")] + more
            case .interrupted:
                lua_settop(L, 0)
                return .interrupted
            case .end:
                // Ctrl-D on a continuation line drops the chunk, showing why it was unfinished.
                reader.remember(line)
                return .chunk(status: status)
            }
        }
    }

    /// A syntax error at the end of the input: the chunk is not finished yet.
    private func isIncomplete(_ status: Int32) -> Bool {
        guard status == LUA_ERRSYNTAX, let message = host.stringBytes(at: -1) else { return false }
        return message.suffix(5).elementsEqual("<eof>".utf8)
    }

    private func readLine(first: Bool) -> LineInput {
        reader.readLine(prompt: prompt(first: first))
    }

    /// `_PROMPT` and `_PROMPT2` override the prompts when they are strings or numbers.
    private func prompt(first: Bool) -> String {
        host.pushGlobal(first ? "_PROMPT" : "_PROMPT2")
        defer { lua_settop(L, -2) }
        return host.string(at: -1) ?? (first ? "> " : ">> ")
    }

    // MARK: - Printing results

    /// Pushes the function that prints results: `smia.show` (tables written out, long modules
    /// summarized; it prints through the global `print`), or `print` itself when a script
    /// replaced it, as lua.c does.
    private func pushPrinter() {
        host.pushGlobal("smia")
        if lua_type(L, -1) == LUA_TTABLE {
            host.pushString("show")
            lua_rawget(L, -2)
            lua_rotate(L, -2, 1)
            lua_settop(L, -2)
            if lua_type(L, -1) == LUA_TFUNCTION { return }
        }
        lua_settop(L, -2)
        host.pushGlobal("print")
    }

    /// Prints the values left on the stack, tab-separated (see `pushPrinter`).
    private func printResults() {
        let count = lua_gettop(L)
        guard count > 0 else { return }
        guard lua_checkstack(L, LUA_MINSTACK) != 0 else {
            lua_settop(L, 0)
            writeError("too many results to print\n")
            return
        }
        pushPrinter()
        lua_rotate(L, 1, 1)
        // Through docall, so Ctrl-C stops a slow __tostring too.
        if smia_host_docall(L, count, 0) != LUA_OK {
            let reason = host.string(at: -1) ?? "error object is not a string"
            writeError("error calling 'print' (\(reason))\n")
            lua_settop(L, 0)
        }
    }
}
