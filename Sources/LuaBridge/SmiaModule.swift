import CLua
import Foundation

/// Installs the `smia` module into a Lua state: the global `smia`, and `require("smia")`
/// returning the same table. The host calls this once after `luaL_openlibs`.
public func openSmia(_ L: OpaquePointer) {
    lua_createtable(L, 0, 0)
    lua_pushcclosure(L, { L in
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        lua_pushnumber(L!, Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9)
        return 1
    }, 0)
    lua_setfield(L, -2, "clock")
    // package.loaded.smia = smia, so require finds it.
    lua_getglobal(L, "package")
    lua_getfield(L, -1, "loaded")
    lua_pushvalue(L, -3)
    lua_setfield(L, -2, "smia")
    lua_settop(L, -3)
    lua_setglobal(L, "smia")
}
