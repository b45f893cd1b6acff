// smia-lua: the Lua 5.4 interpreter with the smia engine preloaded; see HostOptions for the
// command line (that of Lua's own `lua`), LuaHost for what runs, REPL for the interactive loop.

import Glibc
import Tensor

// Both need a re-execution to apply; the BLAS kernel's carries the wait policy along.
let waitVariablesSet = OpenMPWaitPolicy.setIfUnset()
BLASCoreSelection.reexecuteIfBetterKernel()
if !waitVariablesSet.isEmpty { OpenMPWaitPolicy.reexecute(undoing: waitVariablesSet) }
BufferReuse.enable()

if let text = getenv(EngineThreads.variable).map({ String(cString: $0) }), EngineThreads.parse(text) == nil {
    writeError("smia-lua: \(EngineThreads.variable) must be a positive integer, got '\(text)'\n")
    exit(1)
}

switch HostCommandLine.parse(CommandLine.arguments) {
case .usageError(let programName, let badOption):
    writeError(HostCommandLine.usage(programName: programName, badOption: badOption))
    exit(1)
case .run(let options):
    if let threads = options.threads { EngineThreads.set(threads) }
    guard let host = LuaHost() else {
        writeError("\(options.programName): cannot create state: not enough memory\n")
        exit(1)
    }
    let status = host.run(options)
    host.close()
    exit(status)
}
