// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "smia-lua",
    products: [
        .executable(name: "smia-lua", targets: ["smia-lua"]),
    ],
    targets: [
        // System libraries: plumbing only (pkg-config finds the Debian packages).
        .systemLibrary(name: "CLua", pkgConfig: "lua5.4", providers: [.apt(["liblua5.4-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CEditLine", pkgConfig: "libedit", providers: [.apt(["libedit-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // oneDNN (libdnnl-dev ships no pkg-config file): the convolutions.
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        // DICOM through GDCM (libgdcm-dev, which ships no pkg-config file): plain C over its C++.
        .target(name: "CDICOM", linkerSettings: [.linkedLibrary("gdcmMSFF"), .linkedLibrary("gdcmDSED"),
                                                 .linkedLibrary("gdcmDICT"), .linkedLibrary("gdcmCommon")]),
        // The C side of the Lua boundary: the only code that may call lua_error.
        .target(name: "CLuaShim", dependencies: ["CLua"]),
        // CPUID: the vector instruction sets, to choose the BLAS kernel.
        .target(name: "CCPUFeatures"),
        // The direct 3x3 convolution over few channels, in AVX2 (chosen at run time).
        .target(name: "CDirectConvolution"),
        // SSIM's windowed moments, 8 lanes per instruction where the CPU has AVX (chosen at load time).
        .target(name: "CStructuralSimilarity"),
        // The logistic function and its logarithms in 4 lanes (sigmoid, log-sigmoid, focal loss).
        .target(name: "CLogistic"),

        .target(name: "Tensor", dependencies: ["COpenBLAS", "CDNNL", "CPNG", "CZlib", "CDICOM", "CCPUFeatures", "CDirectConvolution", "CLogistic"]),
        .target(name: "Attacks", dependencies: ["Tensor", "CStructuralSimilarity"]),
        // The Lua parts of the smia module (Sources/LuaBridge/Lua) are compiled into the binary.
        .target(name: "LuaBridge", dependencies: ["CLua", "CLuaShim", "Tensor", "Attacks"],
                resources: [.embedInCode("Lua/prelude.lua"), .embedInCode("Lua/train.lua"), .embedInCode("Lua/eval.lua"),
                            .embedInCode("Lua/json.lua"), .embedInCode("Lua/per_image.lua"), .embedInCode("Lua/eval_plan.lua"),
                            .embedInCode("Lua/reference.lua"), .embedInCode("Lua/help.lua"), .embedInCode("Lua/show.lua")]),
        .executableTarget(name: "smia-lua", dependencies: ["LuaBridge", "CLuaShim", "CLua", "CEditLine"]),

        // Loads the PyTorch fixtures of Tests/Data/fixtures for the test targets.
        .target(name: "TestSupport", dependencies: ["Tensor"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "TestSupport"]),
        .testTarget(name: "AttacksTests", dependencies: ["Attacks", "Tensor", "TestSupport"]),
        .testTarget(name: "LuaBridgeTests", dependencies: ["LuaBridge", "CLua"]),
    ],
    swiftLanguageModes: [.v5]
)
