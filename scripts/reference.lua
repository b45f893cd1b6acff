-- reference.lua: writes docs/reference.md, the full reference of the Lua API, from the code's
-- option tables and Sources/LuaBridge/Lua/reference.lua (compiled into the host, so rebuild
-- first). `make reference` runs it; Tests/lua/test_reference.lua fails when the file is stale.
--
--   smia-lua scripts/reference.lua [PATH]        (default docs/reference.md)
local path = arg[1] or "docs/reference.md"
local text = smia.help.markdown()
-- Atomically: a temporary file beside the target, then a rename.
local temporary = path .. ".tmp"
local f = assert(io.open(temporary, "wb"))
assert(f:write(text))
assert(f:close())
assert(os.rename(temporary, path))
print(("wrote %s (%d lines)"):format(path, select(2, text:gsub("\n", "")) + 1))
