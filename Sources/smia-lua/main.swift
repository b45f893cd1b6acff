// smia-lua: the Lua 5.4 interpreter with the smia engine preloaded; see HostOptions for the
// command line (that of Lua's own `lua`), LuaHost for what runs, REPL for the interactive loop.

import Glibc

switch HostCommandLine.parse(CommandLine.arguments) {
case .usageError(let programName, let badOption):
    writeError(HostCommandLine.usage(programName: programName, badOption: badOption))
    exit(1)
case .run(let options):
    guard let host = LuaHost() else {
        writeError("\(options.programName): cannot create state: not enough memory\n")
        exit(1)
    }
    let status = host.run(options)
    host.close()
    exit(status)
}
