// The command line, parsed exactly as Lua 5.4's own `lua` parses it (lua.c's collectargs):
// options come first and stop at the first argument that is not an option, at `--`, or at `-`.
// One option of the engine's own is added: `--threads N` (or `--threads=N`).

import Tensor

/// One option that runs code, in command-line order.
enum StartupAction: Equatable {
    /// `-e stat`: run a string.
    case execute(String)
    /// `-l mod` or `-l g=mod`: require a module into a global.
    case require(String)
    /// `-W`: turn warnings on.
    case warningsOn
}

struct HostOptions {
    /// The program name used in messages (`argv[0]`), as lua.c does.
    var programName = "smia-lua"
    /// Every argument, `argv[0]` included; the global `arg` is built from it.
    var arguments: [String] = []
    /// Index in `arguments` of the script, if there is one.
    var scriptIndex: Int?
    var actions: [StartupAction] = []
    var hasExecute = false
    var interactive = false
    var showVersion = false
    var ignoreEnvironment = false
    /// `--threads N`: the threads the kernels use (default: SMIA_THREADS, else every core).
    var threads: Int?

    /// The script reads from standard input: a lone `-` that does not follow `--`.
    var scriptIsStandardInput: Bool {
        guard let index = scriptIndex else { return false }
        return arguments[index] == "-" && arguments[index - 1] != "--"
    }
}

enum CommandLineParse {
    case run(HostOptions)
    /// A bad option; the value is the offending argument.
    case usageError(programName: String, badOption: String)
}

enum HostCommandLine {
    static func parse(_ argv: [String]) -> CommandLineParse {
        var options = HostOptions()
        options.arguments = argv
        if let first = argv.first, !first.isEmpty {
            options.programName = first
        }
        let bad = { (option: String) in
            CommandLineParse.usageError(programName: options.programName, badOption: option)
        }
        var i = 1
        while i < argv.count {
            let argument = argv[i]
            guard argument.hasPrefix("-") else {
                options.scriptIndex = i
                return .run(options)
            }
            let letters = Array(argument.utf8.dropFirst())
            guard let letter = letters.first else {
                options.scriptIndex = i // a lone `-`: the script is standard input
                return .run(options)
            }
            let attached = letters.count > 1
            switch letter {
            case UInt8(ascii: "-") where argument == "--threads" || argument.hasPrefix("--threads="):
                var value = String(argument.dropFirst("--threads=".count))
                if argument == "--threads" {
                    i += 1
                    guard i < argv.count else { return bad(argument) }
                    value = argv[i]
                }
                guard let n = EngineThreads.parse(value) else { return bad(argument) }
                options.threads = n
            case UInt8(ascii: "-"):
                if attached { return bad(argument) }
                if i + 1 < argv.count { options.scriptIndex = i + 1 }
                return .run(options)
            case UInt8(ascii: "E"):
                if attached { return bad(argument) }
                options.ignoreEnvironment = true
            case UInt8(ascii: "W"):
                if attached { return bad(argument) }
                options.actions.append(.warningsOn)
            case UInt8(ascii: "i"), UInt8(ascii: "v"):
                if attached { return bad(argument) }
                if letter == UInt8(ascii: "i") { options.interactive = true }
                options.showVersion = true // -i implies -v, as in lua
            case UInt8(ascii: "e"), UInt8(ascii: "l"):
                var value = String(argument.dropFirst(2))
                if !attached {
                    i += 1
                    guard i < argv.count, !argv[i].hasPrefix("-") else { return bad(argument) }
                    value = argv[i]
                }
                if letter == UInt8(ascii: "e") {
                    options.hasExecute = true
                    options.actions.append(.execute(value))
                } else {
                    options.actions.append(.require(value))
                }
            default:
                return bad(argument)
            }
            i += 1
        }
        return .run(options)
    }

    static func usage(programName: String, badOption: String) -> String {
        var text = "\(programName): "
        if badOption == "-e" || badOption == "-l" {
            text += "'\(badOption)' needs argument\n"
        } else if badOption.hasPrefix("--threads") {
            text += "'--threads' needs a positive number of threads\n"
        } else {
            text += "unrecognized option '\(badOption)'\n"
        }
        text += """
            usage: \(programName) [options] [script [args]]
            Available options are:
              -e stat   execute string 'stat'
              -i        enter interactive mode after executing 'script'
              -l mod    require library 'mod' into global 'mod'
              -l g=mod  require library 'mod' into global 'g'
              -v        show version information
              -E        ignore environment variables
              -W        turn warnings on
              --threads N  run the kernels on N threads (default: SMIA_THREADS, else every core)
              --        stop handling options
              -         stop handling options and execute stdin

            """
        return text
    }
}
