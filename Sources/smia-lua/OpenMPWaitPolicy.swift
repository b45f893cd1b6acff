// All the engine's parallel loops and oneDNN's convolutions run on OpenMP's threads (libgomp,
// OpenMPTeam.swift). By default those threads keep spinning for a while after each parallel
// region. That makes the next region cheap when the process has the cores to itself, and slow
// when it does not: with other work on the machine (a build, another run, shards side by side)
// a spinning thread takes the core from the thread it waits for. Measured on a 2-core machine
// under a compiler's load, the detector's attack step took 2.7 times as long with a spin of 3000
// rounds as with none, and 1.35 times with 1000. So the host runs with OMP_WAIT_POLICY=passive
// (the threads sleep at once) and keeps small work on one thread instead (OneDNNThreads.swift,
// `parallelThreshold`). libgomp reads the variable when it loads, before main, so setting it
// takes a re-execution, shared with the BLAS kernel's (BLASCoreSelection). A value the user set
// is kept: OMP_WAIT_POLICY=active suits a machine given to one run.

import Glibc

enum OpenMPWaitPolicy {
    static let variable = "OMP_WAIT_POLICY"

    /// Sets the variable when the user did not; returns whether it did (the process must then
    /// re-execute for it to apply).
    static func setIfUnset() -> Bool {
        guard getenv(variable) == nil else { return false }
        setenv(variable, "passive", 1)
        return true
    }

    /// Re-executes the host with the environment as now set; if that fails, runs on with the
    /// variable removed again (OpenMP then spins as by default).
    static func reexecute() {
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv(variable)
    }
}
