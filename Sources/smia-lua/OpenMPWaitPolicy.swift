// oneDNN's convolutions run on OpenMP threads (Debian's libdnnl uses libgomp), everything else
// on the engine's own threads. By default OpenMP's threads keep spinning after each
// convolution, taking the cores from the kernels that run next; measured on a 2-core machine
// this doubled the time of a ResNet-18 forward pass. So the host runs with OMP_WAIT_POLICY=
// passive (the threads sleep at once). libgomp reads the variable when it loads, before main,
// so setting it takes a re-execution, shared with the BLAS kernel's (BLASCoreSelection). A
// value the user set is kept.

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
