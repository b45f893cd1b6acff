import Foundation
import LuaBridge
import XCTest

/// Runs the Lua test suite (Tests/lua/run.lua) in a state opened as the host opens it, so
/// `swift test` exercises the Lua tests too. `SMIA_LUA_TESTS="test_tensor test_nn"` selects files.
final class LuaSuiteTests: XCTestCase {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testLuaSuite() throws {
        // The Lua tests use paths from the package root (Tests/lua, Tests/Data).
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(Self.packageRoot.path))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
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

    func testScriptErrorCarriesTheTraceback() throws {
        let state = try XCTUnwrap(LuaState())
        XCTAssertThrowsError(try state.run("local function inner() error('deep failure') end\ninner()", name: "=chunk")) { error in
            guard let error = error as? LuaScriptError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.message, "chunk:1: deep failure")
            XCTAssertTrue(error.traceback.contains("stack traceback:"), error.traceback)
            XCTAssertTrue(error.traceback.contains("inner"), error.traceback)
        }
    }

    func testErrorInsideGradIsTheOriginalMessage() throws {
        let state = try XCTUnwrap(LuaState())
        try state.run("""
            local ok, err = pcall(smia.autograd.grad(function(x) error("loss failed") end), smia.tensor.zeros{2})
            assert(not ok and err:match("^loss:1: loss failed$"), err)
            """, name: "=loss")
    }

    func testSyntaxErrorIsThrown() throws {
        let state = try XCTUnwrap(LuaState())
        XCTAssertThrowsError(try state.run("this is not lua")) { error in
            XCTAssertTrue("\(error)".contains("syntax error") || "\(error)".contains("expected"), "\(error)")
        }
        XCTAssertThrowsError(try state.run(file: "/nonexistent/script.lua"))
    }
}
