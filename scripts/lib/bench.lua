-- Shared timing for scripts/bench/*.lua: each benchmark prints one JSON object per line, and
-- every figure is also given as a fraction of the matmul GFLOP/s measured in the same run, so
-- results from a busy or a different machine stay comparable.
local T = smia.tensor
local bench = {}

-- Best wall-clock seconds of one call to fn: one warm-up call, then repeats until at least
-- `budget` seconds (default 0.5) and `min_calls` calls (default 3) have passed. The best time
-- is the least disturbed by whatever else the machine is doing.
function bench.best_time(fn, budget, min_calls)
  budget, min_calls = budget or 0.5, min_calls or 3
  fn()
  local best, spent, calls = math.huge, 0, 0
  while spent < budget or calls < min_calls do
    local t0 = smia.clock()
    fn()
    local dt = smia.clock() - t0
    best, spent, calls = math.min(best, dt), spent + dt, calls + 1
  end
  return best
end

-- GFLOP/s of a 1024x1024 by 1024x1024 float32 matmul (2 n^3 floating-point operations).
function bench.matmul_gflops(n)
  n = n or 1024
  local a, b = T.rand({n, n}, 1), T.rand({n, n}, 2)
  local seconds = bench.best_time(function() return a:matmul(b) end)
  return 2 * n ^ 3 / seconds / 1e9
end

-- One JSON object on one line; keys in the order given (a list of {key, value} pairs).
function bench.emit(pairs)
  local parts = {}
  for _, kv in ipairs(pairs) do
    local key, value = kv[1], kv[2]
    local text
    if type(value) == "string" then
      text = '"' .. value:gsub('[%c"\\]', function(c) return ("\\u%04x"):format(c:byte()) end) .. '"'
    elseif math.type(value) == "integer" then
      text = tostring(value)
    else
      text = ("%.4g"):format(value)
    end
    parts[#parts + 1] = ('"%s":%s'):format(key, text)
  end
  print("{" .. table.concat(parts, ",") .. "}")
  io.stdout:flush()
end

return bench
