-- smia.report: results tables as Markdown, CSV and JSON files, heat maps and figure PNGs.
local T = smia.tensor
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local rows = {
  {task = "fundus", method = "clean", accuracy = 0.9, fpr = 0.05},
  {task = "fundus", method = "smia", accuracy = 0.2, var = 1e-4, cos_positive = 0.8},
}

local read = H.read_file

local tests = {}

function tests.write_three_files()
  local dir = H.tmpdir()
  local paths = smia.report.write(rows, dir .. "/out", {title = "Demo"})
  H.eq(#paths, 3)
  local md = read(dir .. "/out/tables.md")
  assert(md:find("# Demo", 1, true) and md:find("| smia | 0.2000 |", 1, true), md)
  H.eq(read(dir .. "/out/results.csv"):match("^[^\n]*"), "task,method,accuracy,fpr,var,cos_positive")
  local json = read(dir .. "/out/results.json")
  assert(json:find('"method": "clean"', 1, true) and json:find('"cos_positive": 0.8', 1, true), json)
  H.eq(smia.report.markdown(rows), md:gsub("^# Demo\n\n", ""))
  H.rmdir(dir)
end

function tests.figure_png()
  local dir = H.tmpdir()
  local x = T.rand({3, 1, 8, 8}, 1)
  local eta = (T.rand({3, 1, 8, 8}, 2) - 0.5) * 0.1
  local map = smia.report.heat_map(eta)
  H.same(map:shape(), {3, 3, 8, 8})
  local path = smia.report.figure(dir .. "/f.png", {
    {images = x, labels = T.from{0, 1, 2}},
    {images = (x + eta):clamp(0, 1), masks = T.zeros{3, 8, 8}},
    {images = map, boxes = {{{1, 1, 4, 4, 0}}, {}, {{x1 = 2, y1 = 2, x2 = 6, y2 = 7, class = 1}}}},
  }, {count = 2, scale = 2})
  local f = assert(io.open(path, "rb"))
  H.eq(f:read(8), "\137PNG\r\n\26\n")
  f:close()
  H.rmdir(dir)
end

function tests.bad_calls()
  local dir = H.tmpdir()
  local x = T.rand({2, 1, 4, 4}, 1)
  local cases = {
    {function() smia.report.write(nil, dir) end, "table expected"},
    {function() smia.report.write({{method = "a"}}, dir) end, "needs a 'task' and a 'method'"},
    {function() smia.report.write({{task = "t", method = "m", accuracy = "high"}}, dir) end, "'accuracy' must be a number"},
    {function() smia.report.write({5}, dir) end, "row 1 must be a table"},
    {function() smia.report.write(rows, dir, {titel = "x"}) end, "unknown option 'titel'"},
    {function() smia.report.markdown({{task = 1, method = "m"}}) end, "'task' must be a string"},
    {function() smia.report.heat_map(T.zeros{4}) end, "expected a perturbation of size"},
    {function() smia.report.heat_map(x, -1) end, "scale must be a non-negative number"},
    {function() smia.report.figure(dir .. "/a.png", {}) end, "empty table"},
    {function() smia.report.figure(dir .. "/a.png", {{labels = x}}) end, "'images' (a tensor) is missing"},
    {function() smia.report.figure(dir .. "/a.png", {{images = x}, {images = T.zeros{2, 1, 5, 5}}}) end, "like column 1"},
    {function() smia.report.figure(dir .. "/a.png", {{images = x, boxes = {{{1, 2, 3}}}}}) end, "y2 must be a finite number"},
    {function() smia.report.figure(dir .. "/a.png", {{images = x}}, {scale = 0}) end, "scale must be in"},
    {function() smia.report.figure(dir .. "/no/such/dir/a.png", {{images = x}}) end, "cannot write"},
    {function() smia.report.write(rows, dir .. "/out/tables.md/x") end, nil},
  }
  smia.report.write(rows, dir .. "/out")
  for i, case in ipairs(cases) do
    local ok, message = pcall(case[1])
    assert(not ok, ("case %d: expected an error"):format(i))
    if case[2] then assert(tostring(message):find(case[2], 1, true), ("case %d: %s"):format(i, message)) end
  end
  H.rmdir(dir)
end

return tests
