// All the engine's parallel loops and oneDNN's convolutions run on OpenMP's threads (libgomp,
// OpenMPTeam.swift). How those threads wait between parallel regions is a trade: a thread that
// spins answers the next region at once, a thread that sleeps costs a wake-up (about 50 µs on
// the 2-core virtual machines measured) but leaves the core to whatever else runs. OpenMP's
// default (PyTorch's too) spins for milliseconds; on a busy machine a spinning thread takes the
// core from the thread it waits for.
//
// So the host makes them spin briefly, about as long as a wake-up costs (1000 rounds of
// libgomp's spin loop, tens of µs), and then sleep. Measured on a 2-core machine, one attack
// step at batch 16, against sleeping at once:
// - quiet: detector 13.7 -> 11.0 ms, U-Net 25.6 -> 21.3 ms, ResNet-18 input gradient unchanged;
// - beside two busy processes: detector 14.8 -> 17-21 ms, U-Net 28.7 -> 32 ms, ResNet-18 input
//   gradient 0.67 -> 0.69-0.75 s; OpenMP's own spinning was 1.2-2.5 times slower there.
// Small work runs on one thread in any case (OneDNNThreads.swift, `parallelThreshold`).
//
// libgomp reads the variables when it loads, before main, so setting them takes a
// re-execution, shared with the BLAS kernel's (BLASCoreSelection). Values the user set are
// kept: OMP_WAIT_POLICY=active suits a machine given to one run, GOMP_SPINCOUNT=0 a shared one.

import Glibc

enum OpenMPWaitPolicy {
    static let policyVariable = "OMP_WAIT_POLICY"
    static let spinVariable = "GOMP_SPINCOUNT"
    /// Rounds of libgomp's spin loop before a waiting thread sleeps.
    static let spinRounds = "1000"

    /// Sets the variables the user did not (the spin only when the policy is also the host's);
    /// returns the names it set (the process must then re-execute for them to apply).
    static func setIfUnset() -> [String] {
        guard getenv(policyVariable) == nil else { return [] }
        setenv(policyVariable, "passive", 1)
        guard getenv(spinVariable) == nil else { return [policyVariable] }
        setenv(spinVariable, spinRounds, 1)
        return [policyVariable, spinVariable]
    }

    /// Re-executes the host with the environment as now set; if that fails, runs on with the
    /// variables it set removed again (this process keeps OpenMP's defaults).
    static func reexecute(undoing names: [String]) {
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        for name in names { unsetenv(name) }
    }
}
