import Foundation
import LuaBridge
import XCTest

/// Runs the Lua test suite (Tests/lua/run.lua) in a state opened as the host opens it, so
/// `swift test` exercises the Lua tests too. `SMIA_LUA_TESTS="test_tensor test_nn"` selects files.
final class LuaSuiteTests: XCTestCase {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testLuaSuite() throws {
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(Self.packageRoot.path))
        let state = try XCTUnwrap(LuaState())
        // os.exit would end the test process: record the status and stop the chunk instead.
        try state.run("""
            os.exit = function(code)
              smia_test_exit_status = (code == nil or code == true or code == 0)
              error("os.exit", 0)
            end
            """)
        let selection = ProcessInfo.processInfo.environment["SMIA_LUA_TESTS"]?.split(separator: " ").map(String.init) ?? []
        do {
            // The host's own tests run through the host executable.
            try state.run(file: "Tests/lua/run.lua", arguments: ["--skip", "test_host"] + selection)
            XCTFail("run.lua ended without os.exit")
        } catch let error as LuaScriptError where error.message == "os.exit" {
            try state.run("assert(smia_test_exit_status, 'some Lua tests failed')")
        }
    }

    func testStateSurvivesErrors() throws {
        let state = try XCTUnwrap(LuaState())
        XCTAssertThrowsError(try state.run("smia.tensor.zeros('x')")) { error in
            let message = (error as? LuaScriptError)?.message ?? ""
            XCTAssertTrue(message.contains("bad argument #1 to 'zeros'"), message)
        }
        try state.run("assert(smia.tensor.zeros{2}:numel() == 2)")
    }
}
