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
        // libedit draws and decodes wide characters by LC_CTYPE, which lua.c never sets:
        // take the user's, or C.UTF-8 if theirs is not UTF-8, so non-ASCII keys survive.
        if setlocale(LC_CTYPE, "") == nil || String(cString: nl_langinfo(nl_item(CODESET))) != "UTF-8" {
            _ = setlocale(LC_CTYPE, "C.UTF-8")
        }
        // libedit's own signal handlers are not thread-safe: when a terminal signal lands on
        // one of OpenBLAS's threads (Ctrl-Z then `fg`), they crash. The host handles SIGINT,
        // SIGTSTP, SIGCONT and SIGWINCH itself (interrupt.c) and reads the keys itself, so
        // Ctrl-C ends the read and `fg` or a resize redraws the line.
        rl_catch_signals = 0
        rl_catch_sigwinch = 0
        rl_getc_function = { _ in EditLineReader.readKey() }
        using_history() // initializes libedit
        stifle_history(Self.historyLimit)
        if let file = historyFile {
            _ = read_history(file)
        }
        if let newest = history_get(history_base + history_length - 1), let line = newest.pointee.line {
            lastEntry = Array(UnsafeBufferPointer(start: UnsafeRawPointer(line).assumingMemoryBound(to: UInt8.self),
                                                  count: strlen(line)))
        }
    }

    /// Set by `readKey` when Ctrl-C ended the read.
    private static var interrupted = false

    func readLine(prompt: String) -> LineInput {
        _ = smia_host_prompt_interrupted() // forget a Ctrl-C that came between prompts
        _ = smia_host_terminal_continued()
        if smia_host_terminal_resized() != 0 { rl_resize_terminal() }
        Self.interrupted = false
        smia_host_editor_signals_begin()
        let line = readline(prompt)
        smia_host_editor_signals_end()
        guard let raw = line else { return Self.interrupted ? .interrupted : .end }
        defer { free(raw) }
        let length = strlen(raw)
        let bytes = raw.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
        return .line(bytes)
    }

    /// libedit's key source: one character from the terminal, UTF-8 decoded to a code point
    /// (libedit takes the value as a wide character), or -1 to end the read.
    private static func readKey() -> Int32 {
        guard let lead = readByte() else { return -1 }
        let continuation: Int
        switch lead {
        case 0..<0x80: return Int32(lead)
        case 0xC2...0xDF: continuation = 1
        case 0xE0...0xEF: continuation = 2
        case 0xF0...0xF4: continuation = 3
        default: return 0xFFFD
        }
        var codePoint = Int32(lead) & (0x3F >> continuation)
        for _ in 0..<continuation {
            guard let byte = readByte() else { return -1 }
            guard byte & 0xC0 == 0x80 else { return 0xFFFD }
            codePoint = codePoint << 6 | Int32(byte & 0x3F)
        }
        return codePoint
    }

    /// One byte from the terminal, seeing to the signals that interrupt the wait.
    private static func readByte() -> UInt8? {
        var byte: UInt8 = 0
        while true {
            let count = read(STDIN_FILENO, &byte, 1)
            if count == 1 { return byte }
            guard count < 0, errno == EINTR else { return nil } // end of input, or an error
            if smia_host_prompt_interrupted() != 0 {
                interrupted = true
                return nil
            }
            if smia_host_terminal_continued() != 0 {
                // Back from Ctrl-Z: the terminal was handed back in its normal mode.
                rl_deprep_terminal()
                rl_prep_terminal(0)
                rl_forced_update_display()
            }
            if smia_host_terminal_resized() != 0 {
                rl_resize_terminal()
            }
        }
    }

    func remember(_ entry: [UInt8]) {
        let blank = entry.allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        guard !blank, entry != lastEntry, !entry.contains(0) else { return }
        lastEntry = entry
        // Sessions side by side share the file: under its lock, take in what the others have
        // written since (the in-memory history becomes the file's), then add ours.
        let lock = lockHistory()
        defer { unlockHistory(lock) }
        if let file = historyFile {
            clear_history()
            _ = read_history(file)
        }
        (entry + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { _ = add_history($0.baseAddress) }
        }
        save()
    }

    /// An exclusive lock on `<history file>.lock` (waits for the other sessions), or -1 without
    /// a history file or when the lock file cannot be made (the history is then saved unlocked).
    private func lockHistory() -> Int32 {
        guard let file = historyFile else { return -1 }
        let fd = open(file + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return -1 }
        while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
        return fd
    }

    private func unlockHistory(_ fd: Int32) {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
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
