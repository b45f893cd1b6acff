-- What the engine runs on: smia.config(), `smia-lua -v`, the thread count (--threads,
-- SMIA_THREADS), the OpenBLAS kernel a user sets being kept, and the numerical tests passing
-- on every OpenBLAS kernel the engine may choose on this CPU.
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local HOST = H.host()

-- Runs the host with `args` (a shell-quoted string) under `env` (name -> value); returns
-- stdout, stderr and the exit code.
local function run(args, env)
  local parts = { "env", "-u", "OPENBLAS_CORETYPE", "-u", "SMIA_THREADS", "-u", "OMP_WAIT_POLICY", "-u", "GOMP_SPINCOUNT" }
  for name, value in pairs(env or {}) do parts[#parts + 1] = name .. "=" .. H.quote(value) end
  local err = os.tmpname()
  parts[#parts + 1] = H.quote(HOST) .. " " .. args .. " </dev/null 2>" .. H.quote(err)
  local pipe = assert(io.popen(table.concat(parts, " "), "r"))
  local out = pipe:read("a")
  local _, _, code = pipe:close()
  local f = assert(io.open(err, "rb"))
  local errors = f:read("a")
  f:close()
  os.remove(err)
  return out, errors, code
end

local function threads_seen(args, env)
  local out, err, code = run(args .. " -e " .. H.quote("io.write(smia.config().threads)"), env)
  assert(code == 0, ("exit %s: %s"):format(code, err))
  return tonumber(out)
end

local tests = {}

function tests.config_describes_the_engine()
  local c = smia.config()
  assert(c.blas:match("^OpenBLAS %d"), "blas: " .. tostring(c.blas))
  assert(type(c.blas_kernel) == "string" and #c.blas_kernel > 0, "blas_kernel")
  local by = c.blas_kernel_chosen_by
  assert(by == "OpenBLAS" or by == "user" or by == "smia-lua", "blas_kernel_chosen_by: " .. tostring(by))
  H.eq(c.blas_kernel_replaced ~= nil, by == "smia-lua", "a replaced kernel is named exactly when smia-lua chose")
  assert(math.type(c.threads) == "integer" and c.threads >= 1, "threads")
  assert(type(c.cpu) == "table", "cpu")
  for _, name in ipairs(c.cpu) do assert(type(name) == "string", "cpu feature names") end
  assert(c.onednn:match("^%d+%.%d+%.%d+$") or c.onednn == "off", "onednn: " .. tostring(c.onednn))
  assert(type(c.onednn_isa) == "string" and #c.onednn_isa > 0, "onednn_isa")
end

-- OpenMP's threads spin briefly and then sleep between parallel regions, unless the user says
-- otherwise; smia.config().thread_wait and `smia-lua -v` say which.
function tests.openmp_threads_spin_briefly_then_sleep()
  local code = H.quote("io.write(tostring(os.getenv('OMP_WAIT_POLICY')), ' ', tostring(os.getenv('GOMP_SPINCOUNT')), ' | ', smia.config().thread_wait)")
  local out, err = run("-e " .. code)
  H.eq(out, "passive 1000 | spin 1000 rounds, then sleep", err)
  out, err = run("-e " .. code, { OMP_WAIT_POLICY = "active" })
  H.eq(out, "active nil | spin", err)
  out, err = run("-e " .. code, { OMP_WAIT_POLICY = "passive" })
  H.eq(out, "passive nil | sleep at once", err)
  out, err = run("-e " .. code, { GOMP_SPINCOUNT = "0" })
  H.eq(out, "passive 0 | sleep at once", err)
  out, err = run("-v")
  assert(out:find("(between tasks: spin 1000 rounds, then sleep)", 1, true), out .. err)
end

function tests.threads_from_the_option_and_the_variable()
  H.eq(threads_seen("--threads 1"), 1)
  H.eq(threads_seen("--threads=3"), 3)
  H.eq(threads_seen("", { SMIA_THREADS = "5" }), 5)
  H.eq(threads_seen("--threads 2", { SMIA_THREADS = "5" }), 2, "the option wins over the variable")
  local out = run("-e " .. H.quote("io.write(smia.config().threads)"))
  assert(tonumber(out) >= 1, "a default thread count")
end

function tests.bad_thread_counts_are_refused()
  for _, args in ipairs({ "--threads 0", "--threads=-2", "--threads x", "--threads" }) do
    local _, err, code = run(args .. " -e 'print(1)'")
    H.eq(code, 1, args)
    assert(err:find("'--threads' needs a positive number of threads", 1, true), args .. ": " .. err)
  end
  local _, err, code = run("-e 'print(1)'", { SMIA_THREADS = "many" })
  H.eq(code, 1)
  assert(err:find("SMIA_THREADS must be a positive integer, got 'many'", 1, true), err)
end

function tests.a_kernel_the_user_sets_is_kept()
  local code = "local c = smia.config() io.write(c.blas_kernel, ' ', c.blas_kernel_chosen_by)"
  local out, err = run("-e " .. H.quote(code), { OPENBLAS_CORETYPE = "Prescott" })
  H.eq(out, "Prescott user", err)
end

function tests.version_names_the_kernel_and_threads()
  local out, err, code = run("--threads 2 -v")
  H.eq(code, 0, err)
  assert(out:find("OpenBLAS", 1, true) and out:find("kernel", 1, true) and out:find("2 threads", 1, true), out)
end

-- The kernels the engine may choose on this CPU (BLASKernel.swift): each runs the PyTorch
-- fixtures and the finite-difference checks. Kernels this CPU cannot run are not tried.
function tests.numerical_tests_pass_on_every_kernel_the_engine_may_choose()
  local cpu = {}
  for _, name in ipairs(smia.config().cpu) do cpu[name] = true end
  local kernels = {}
  if cpu.avx then kernels[#kernels + 1] = "Sandybridge" end
  if cpu.avx2 and cpu.fma then kernels[#kernels + 1] = "Haswell" end
  if cpu.avx512 then kernels[#kernels + 1] = "SkylakeX" end
  if cpu.avx512_bf16 then kernels[#kernels + 1] = "Cooperlake" end
  local runner = H.quote(H.root .. "Tests/lua/run.lua")
  for _, kernel in ipairs(kernels) do
    local out, err, code = run(runner .. " test_fixtures test_autograd", { OPENBLAS_CORETYPE = kernel })
    assert(code == 0 and out:match("%d+ passed, 0 failed"),
           ("kernel %s: exit %s\n%s\n%s"):format(kernel, tostring(code), out, err))
  end
end

return tests
