-- Compares the output folders of two runs of the main job (a run against the same run resumed,
-- or merged from shards): results.json, per_image.jsonl in order, per_image.csv and tables.md
-- hold the same values, leaving out what measures time and the run's record; tables.md and
-- the figures are the same bytes. Used by
-- test_runs.lua and by the Slurm test (Tests/cluster/slurm.sh, through compare.lua).
local folders = {}

function folders.read(path)
  local f = assert(io.open(path, "rb"), path .. " missing")
  local text = f:read("a")
  f:close()
  return text
end

function folders.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- Fields that measure time, never equal between runs.
local timing = {seconds = true, seconds_per_image = true}

function folders.without_timing(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do
    if not timing[k] then out[k] = folders.without_timing(x) end
  end
  return out
end

-- Equal values, recursively (an error names the first difference).
function folders.same_value(a, b, where)
  if type(a) ~= type(b) or (type(a) ~= "table" and a ~= b) then
    error(("%s: %s against %s"):format(where, tostring(a), tostring(b)), 0)
  end
  if type(a) ~= "table" then return end
  for k, v in pairs(a) do folders.same_value(v, b[k], where .. "." .. tostring(k)) end
  for k, v in pairs(b) do
    if a[k] == nil then error(("%s.%s: missing (%s in the other)"):format(where, tostring(k), tostring(v)), 0) end
  end
end

-- The per-image rows of a run folder, in order, without timing.
function folders.per_image_rows(dir)
  local rows = smia.per_image.read(dir .. "/per_image.jsonl")
  for i, r in ipairs(rows) do rows[i] = folders.without_timing(r) end
  return rows
end

-- The summary rows of results.json, without timing and without the run's record.
local function results(dir)
  local json = smia.json.decode(folders.read(dir .. "/results.json"))
  assert(json.run and json.results, dir .. "/results.json: expected the run's record and the results")
  return folders.without_timing(json.results)
end

-- Runs in folders a and b gave the same results; an error names the first difference.
function folders.same_runs(a, b)
  folders.same_value(results(a), results(b), "results.json")
  local ra, rb = folders.per_image_rows(a), folders.per_image_rows(b)
  if #ra ~= #rb then error(("per_image.jsonl: %d rows against %d"):format(#ra, #rb), 0) end
  for i = 1, #ra do folders.same_value(ra[i], rb[i], ("per_image.jsonl row %d"):format(i)) end
  -- The main job's tables show no timing: they compare whole, as the figures.
  if folders.read(a .. "/tables.md") ~= folders.read(b .. "/tables.md") then error("tables.md differ", 0) end
  for _, figure in ipairs{"fashion_mnist_comparison.png", "fundus_comparison.png", "fashion_mnist_iterations.png"} do
    local pa, pb = a .. "/figures/" .. figure, b .. "/figures/" .. figure
    if folders.exists(pa) ~= folders.exists(pb) or (folders.exists(pa) and folders.read(pa) ~= folders.read(pb)) then
      error("figures/" .. figure .. " differ", 0)
    end
  end
end

return folders
