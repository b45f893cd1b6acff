import CLua
import Tensor

/// `smia.config()`: a table saying what the engine runs on: `blas` (library and version),
/// `blas_kernel` (the OpenBLAS kernel, e.g. `Haswell`), `blas_kernel_chosen_by` (`OpenBLAS`,
/// `user` when OPENBLAS_CORETYPE was set, or `smia-lua` when the host replaced OpenBLAS's
/// generic kernel, then named by `blas_kernel_replaced`), `threads`, `thread_wait` (how they wait
/// between parallel regions, as EngineConfiguration.threadWait says), and `cpu`, the list of
/// the CPU's vector features (`avx2`, `fma`, `avx512`, ...); `onednn` (its version, or `off`
/// when SMIA_ONEDNN=0) and `onednn_isa`, the instruction set oneDNN's kernels run on here.
let configFunction: LuaBody = { a in
    let L = a.L
    lua_createtable(L, 0, 9)
    let choice = BLASKernel.choice
    pushString(L, EngineConfiguration.blasLibrary)
    rawSetField(L, -2, "blas")
    pushString(L, BLASKernel.coreName)
    rawSetField(L, -2, "blas_kernel")
    pushString(L, choice.by)
    rawSetField(L, -2, "blas_kernel_chosen_by")
    if let replaced = choice.replaced {
        pushString(L, replaced)
        rawSetField(L, -2, "blas_kernel_replaced")
    }
    lua_pushinteger(L, lua_Integer(threadCount))
    rawSetField(L, -2, "threads")
    pushString(L, EngineConfiguration.threadWait)
    rawSetField(L, -2, "thread_wait")
    let features = BLASKernel.featureNames
    lua_createtable(L, Int32(features.count), 0)
    for (i, name) in features.enumerated() {
        pushString(L, name)
        lua_rawseti(L, -2, lua_Integer(i + 1))
    }
    rawSetField(L, -2, "cpu")
    pushString(L, OneDNN.enabled ? OneDNN.version : "off")
    rawSetField(L, -2, "onednn")
    pushString(L, OneDNN.instructionSet)
    rawSetField(L, -2, "onednn_isa")
    return 1
}
