// Reading REPL lines: libedit's readline-compatible API on a terminal (editing, history kept
// across sessions, Tab completion), plain `getline` otherwise (`smia-lua -i < file`).

import CEditLine
import CLuaShim
import Glibc

enum LineInput {
    /// A line, without its newline; raw bytes, since Lua source need not be UTF-8.
    case line([UInt8])
    /// Ctrl-C at the prompt.
    case interrupted
    /// Ctrl-D, or the end of the input.
    case end
}

protocol LineReader: AnyObject {
    func readLine(prompt: String) -> LineInput
    /// Keeps an entered chunk in the history.
    func remember(_ entry: [UInt8])
}

/// Where the history lives: `$SMIA_HISTORY` (empty: no history file), else
/// `~/.smia_lua_history`.
func historyPath() -> String? {
    if let custom = getenv("SMIA_HISTORY") {
        let path = String(cString: custom)
        return path.isEmpty ? nil : path
    }
    if let home = getenv("HOME"), home.pointee != 0 {
        return String(cString: home) + "/.smia_lua_history"
    }
    if let entry = getpwuid(getuid()), let dir = entry.pointee.pw_dir {
        return String(cString: dir) + "/.smia_lua_history"
    }
    return nil
}

/// The line editor on a terminal.
final class EditLineReader: LineReader {
    static let historyLimit: Int32 = 1000

    private let historyFile: String?
    private var lastEntry: [UInt8]?

    init(historyFile: String?) {
        self.historyFile = historyFile
        // Names the application for ~/.editrc ("smia-lua:bind ...").
        rl_readline_name = UnsafePointer(strdup("smia-lua"))
        using_history()
        stifle_history(Self.historyLimit)
        if let file = historyFile {
            _ = read_history(file)
        }
        if let newest = history_get(history_base + history_length - 1), let line = newest.pointee.line {
            lastEntry = Array(UnsafeBufferPointer(start: UnsafeRawPointer(line).assumingMemoryBound(to: UInt8.self),
                                                  count: strlen(line)))
        }
    }

    func readLine(prompt: String) -> LineInput {
        _ = smia_host_prompt_interrupted() // forget a Ctrl-C that came between prompts
        guard let raw = readline(prompt) else {
            return smia_host_prompt_interrupted() != 0 ? .interrupted : .end
        }
        defer { free(raw) }
        let length = strlen(raw)
        let bytes = raw.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
        return .line(bytes)
    }

    func remember(_ entry: [UInt8]) {
        guard !entry.isEmpty, entry != lastEntry, !entry.contains(0) else { return }
        lastEntry = entry
        (entry + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { _ = add_history($0.baseAddress) }
        }
        save()
    }

    /// Rewrites the history file after each entry (a few kilobytes), through a temporary
    /// file and a rename, so a killed session loses nothing and a reader never sees half.
    private func save() {
        guard let file = historyFile else { return }
        let temporary = file + ".tmp.\(getpid())"
        if write_history(temporary) == 0 {
            if rename(temporary, file) != 0 { unlink(temporary) }
        } else {
            unlink(temporary)
        }
    }
}

/// Lines from a stream that is not a terminal, as lua.c does without readline: the prompt on
/// stdout, then one line from stdin.
final class PlainLineReader: LineReader {
    func readLine(prompt: String) -> LineInput {
        writeOut(prompt)
        var buffer: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(buffer) }
        let count = getline(&buffer, &capacity, stdin)
        guard count >= 0, let line = buffer else {
            if smia_host_prompt_interrupted() != 0 {
                clearerr(stdin)
                return .interrupted
            }
            return .end
        }
        var bytes = line.withMemoryRebound(to: UInt8.self, capacity: count) {
            Array(UnsafeBufferPointer(start: $0, count: count))
        }
        if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        return .line(bytes)
    }

    func remember(_ entry: [UInt8]) {}
}
