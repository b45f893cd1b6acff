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
  local json = f:read("a")
  f:close()
  for _, method in ipairs{"clean", "fgsm", "pgd", "deepfool", "dev", "smia"} do
    assert(json:find(('"task": "fashion_mnist", "method": "%s"'):format(method), 1, true), method .. " row missing:\n" .. json)
  end
  -- --eps 8/255 read as arithmetic; each row carries the budget its method used: DeepFool none.
  local function row(method) return json:match(('{[^{}]*"method": "%s"[^{}]*}'):format(method)) end
  assert(row("pgd"):find('"eps": 0.0313725', 1, true) and row("pgd"):find('"step": 0.00784', 1, true), row("pgd"))
  assert(row("fgsm"):find('"eps"', 1, true) and not row("fgsm"):find('"step"', 1, true), row("fgsm"))
  assert(not row("deepfool"):find('"eps"', 1, true) and not row("deepfool"):find('"step"', 1, true), row("deepfool"))
  for _, name in ipairs{"tables.md", "results.csv", "figures/fashion_mnist_comparison.png", "figures/fashion_mnist_iterations.png"} do
    local file = io.open(dir .. "/out/" .. name, "rb")
    assert(file, name .. " missing")
    file:close()
  end
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
