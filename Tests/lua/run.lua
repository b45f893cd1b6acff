-- Runs the Lua tests: every Tests/lua/test_*.lua returns a table name -> function; each test
-- runs under xpcall with a traceback. One line per test, then "N passed, N failed".
--
--   smia-lua Tests/lua/run.lua [--skip NAME]... [NAME]...
--
-- NAMEs (e.g. test_tensor) select files; --skip NAME leaves a file out. Run from the package
-- root, or from anywhere: files are found beside this script.

local dir = (debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".")

local selected, skipped = {}, {}
local args = arg or {}
local i = 1
while i <= #args do
  if args[i] == "--skip" then
    skipped[args[i + 1] or ""] = true
    i = i + 2
  else
    selected[args[i]] = true
    i = i + 1
  end
end

local function list_files()
  local files = {}
  local p = io.popen('ls "' .. dir .. '"')
  if p then
    for name in p:lines() do
      if name:match("^test_.*%.lua$") then files[#files + 1] = name end
    end
    p:close()
  end
  table.sort(files)
  return files
end

local passed, failed = 0, 0
local function report(ok, file, name, message)
  if ok then
    passed = passed + 1
    print(("ok   %s: %s"):format(file, name))
  else
    failed = failed + 1
    print(("FAIL %s: %s: %s"):format(file, name, message))
  end
end

local function traceback(e)
  return debug.traceback(tostring(e), 2)
end

local any_selected = next(selected) ~= nil
for _, file in ipairs(list_files()) do
  local base = file:gsub("%.lua$", "")
  if not skipped[base] and (not any_selected or selected[base]) then
    local chunk, err = loadfile(dir .. "/" .. file)
    local ok, tests = false, err
    if chunk then ok, tests = xpcall(chunk, traceback) end
    if not ok or type(tests) ~= "table" then
      report(false, file, "(load)", ok and "the file must return a table of tests" or tests)
    else
      local names = {}
      for name in pairs(tests) do names[#names + 1] = name end
      table.sort(names)
      for _, name in ipairs(names) do
        local ok2, msg = xpcall(tests[name], traceback)
        report(ok2, file, name, msg)
      end
    end
  end
end

print(("%d passed, %d failed"):format(passed, failed))
os.exit(failed == 0)
