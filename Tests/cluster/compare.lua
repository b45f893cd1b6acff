-- smia-lua Tests/cluster/compare.lua A B: exits 0 when the run folders A and B hold the same
-- results (Tests/lua/run_folders.lua), else prints the first difference and exits 1.
local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
local folders = dofile(here .. "/../lua/run_folders.lua")
local ok, message = pcall(folders.same_runs, arg[1], arg[2])
if not ok then
  io.stderr:write(("compare.lua: %s and %s differ: %s\n"):format(arg[1], arg[2], tostring(message)))
  os.exit(1)
end
