-- scripts/smia.lua, the main job, run as a user runs it (a child host from the package root):
-- a tiny configuration writes tables and results that agree, and bad options get the usage.
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local host, quote, root = H.host, H.quote, H.root

-- Runs the main job with `options` from the package root; returns stdout, stderr, exit status.
local function run(options, dir)
  local command = ("cd %s && %s scripts/smia.lua %s </dev/null >%s/stdout 2>%s/stderr; echo $?")
    :format(quote(root), quote(host()), options, quote(dir), quote(dir))
  local pipe = assert(io.popen(command, "r"))
  local status = tonumber(pipe:read("a"))
  pipe:close()
  local function read(name)
    local f = assert(io.open(dir .. "/" .. name, "rb"))
    local text = f:read("a")
    f:close()
    return text
  end
  return read("stdout"), read("stderr"), status
end

local tests = {}

function tests.tiny_run_writes_tables_results_and_figures()
  local dir = H.tmpdir()
  local out, err, status = run(("--tasks fashion_mnist --n 6 --steps 2 --eps 8/255 --out %s"):format(quote(dir .. "/out")), dir)
  H.eq(status, 0, "exit status (stderr: " .. err .. ")")
  assert(out:find("## Ablation (Table 1): classification", 1, true), out)
  assert(out:find("## Fashion-MNIST (Table 5)", 1, true), out)
  local f = assert(io.open(dir .. "/out/results.json", "rb"))
  local rows = smia.json.decode(f:read("a"))
  f:close()
  local function row(method)
    for _, r in ipairs(rows) do
      if r.task == "fashion_mnist" and r.method == method then return r end
    end
    error(method .. " row missing from results.json")
  end
  for _, method in ipairs{"clean", "fgsm", "pgd", "deepfool", "dev", "smia"} do
    H.eq(type(row(method).run), "table", method .. ": the run's record in its row")
  end
  -- --eps 8/255 read as arithmetic; each row carries the budget its method used: DeepFool none.
  H.near(row("pgd").eps, 8 / 255, 1e-6, "pgd eps")
  H.near(row("pgd").step, 2 / 255, 1e-6, "pgd step")
  assert(row("fgsm").eps and not row("fgsm").step, "fgsm: eps only")
  assert(not row("deepfool").eps and not row("deepfool").step, "deepfool: no L∞ budget")
  for _, name in ipairs{"tables.md", "results.csv", "figures/fashion_mnist_comparison.png", "figures/fashion_mnist_iterations.png"} do
    local file = io.open(dir .. "/out/" .. name, "rb")
    assert(file, name .. " missing")
    file:close()
  end
  H.rmdir(dir)
end

-- The paper's protocol: steps of the task's ε, no projection (the perturbation reaches
-- steps·ε), and the variants table with every SMIA reading under both protocols.
function tests.paper_protocol_and_variants_table()
  local dir = H.tmpdir()
  local out, err, status = run(("--tasks fashion_mnist --n 6 --steps 2 --protocol paper --out %s"):format(quote(dir .. "/out")), dir)
  H.eq(status, 0, "exit status (stderr: " .. err .. ")")
  for _, text in ipairs{"the paper's protocol (no projection)", "## Variants of SMIA under both protocols",
                        "| paper | smia_official | 1 |", "| ball | smia_hard | 1 |", "### Table 5 (the MNIST table, on Fashion-MNIST), paper protocol"} do
    assert(out:find(text, 1, true), text .. " missing:\n" .. out)
  end
  local f = assert(io.open(dir .. "/out/results.csv", "rb"))
  local header = f:read("l")
  while header and header:sub(1, 1) == "#" do header = f:read("l") end  -- the run's description
  local column = {}
  for name in header:gmatch("[^,]+") do column[#column + 1] = name end
  local seen = 0
  for line in f:lines() do
    local row, i = {}, 0
    for value in (line .. ","):gmatch("([^,]*),") do i = i + 1; row[column[i]] = value end
    -- The main tables' DEV under the paper's protocol: two steps of 0.005, unprojected.
    if row.method == "dev" and row.variants_table == "" then
      seen = seen + 1
      H.eq(row.paper_protocol, "1")
      H.near(tonumber(row.step), 0.005, 1e-9, "step")
      H.near(tonumber(row.linf), 0.01, 1e-6, "linf")
    end
  end
  f:close()
  H.eq(seen, 1, "the main tables' dev row")
  H.rmdir(dir)
end

-- A sweep names what it varies in its rows, not a fixed value in its header, and draws nothing.
function tests.alpha_sweep_header_and_no_figures()
  local dir = H.tmpdir()
  local out, err, status = run(("--tasks fashion_mnist --n 4 --steps 1 --sweep alpha --out %s"):format(quote(dir .. "/out")), dir)
  H.eq(status, 0, "exit status (stderr: " .. err .. ")")
  assert(out:find("α from 0 to 2", 1, true) and not out:find("α = 1", 1, true), out)
  assert(io.open(dir .. "/out/results.csv", "rb"), "results.csv written")
  H.eq(io.open(dir .. "/out/figures", "rb"), nil, "no figures folder for a sweep")
  H.rmdir(dir)
end

function tests.bad_options_print_the_usage()
  local dir = H.tmpdir()
  for _, case in ipairs{
    {"--eps -1", "--eps must be in (0, 1]"},
    {"--steps 0", "--steps must be at least 1"},
    {"--tasks lungs", "unknown task 'lungs'"},
    {"--sweep depth", "--sweep must be iterations, eps or alpha"},
    {"--protocol box", "--protocol must be ball or paper"},
    {"--n", "option '--n' needs a value"},
    {"--n ten", "integer expected"},
    {"--eps 8/", "number expected (or arithmetic such as 8/255), got '8/'"},
    {"--colour", "unknown option '--colour'"},
  } do
    local _, err, status = run(case[1], dir)
    H.eq(status, 2, case[1] .. " exit status")
    assert(err:find(case[2], 1, true) and err:find("usage: ", 1, true), case[1] .. ": " .. err)
  end
  H.rmdir(dir)
end

return tests
