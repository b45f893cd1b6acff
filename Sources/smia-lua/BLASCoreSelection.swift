// Runs the matrix products on the best OpenBLAS kernel the CPU supports: when OpenBLAS fell
// back to a generic kernel (a CPU newer than its table of models), the host re-executes itself
// once with OPENBLAS_CORETYPE naming the kernel the CPU's features allow (BLASKernel). A value
// the user set is never overridden, and the re-executed process sees it set, so this happens
// at most once.

import Glibc
import Tensor

enum BLASCoreSelection {
    static func reexecuteIfBetterKernel() {
        guard getenv("OPENBLAS_CORETYPE") == nil, BLASKernel.kernelSelectable else { return }
        let reported = BLASKernel.coreName
        guard let better = BLASKernel.better(than: reported, features: BLASKernel.cpuFeatures) else { return }
        setenv("OPENBLAS_CORETYPE", better, 1)
        setenv(BLASKernel.replacedKernelVariable, reported, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv returned: it failed; run on as we are, with the environment as it was.
        unsetenv("OPENBLAS_CORETYPE")
        unsetenv(BLASKernel.replacedKernelVariable)
    }
}
