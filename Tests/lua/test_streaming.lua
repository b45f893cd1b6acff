-- Runs larger than memory: smia.eval over 20,000 generated images keeps no per-image data (the
-- images are rendered per batch, the rows go to per_image.jsonl as batches finish and the
-- summary comes from sums), so its peak resident size is that of a 2,000-image run.
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")
local quote = H.quote

local tests = {}

-- One evaluation in a process of its own (the peak of this one carries every earlier test),
-- printing the rows written and the process's peak resident size (VmHWM, bytes).
local child = [[
local n, out = tonumber(arg[1]), arg[2]
local nn = smia.nn
smia.seed(1)
local model = nn.Sequential{nn.Conv2d{3, 4, 3, padding = 1}, nn.ReLU(), nn.AdaptiveAvgPool2d{1}, nn.Flatten(), nn.Linear{4, 5}}
local ds = smia.data.fundus{split = "test", n = n, size = 16}
local rows = smia.eval{model = model, data = ds, batch_size = 500, keep = 4, out = out, progress = false, fpr = true,
                       attacks = {{"fgsm", smia.attack.fgsm{eps = 2 / 255}}}}
local status = io.open("/proc/self/status"):read("a")
print(rows[1].accuracy, rows[2].accuracy, tonumber(status:match("VmHWM:%s*(%d+) kB")) * 1024)
]]

local function run(n, dir)
  local script = dir .. "/child.lua"
  H.write_file(script, child)
  local pipe = assert(io.popen(("%s %s %d %s 2>&1"):format(quote(H.host()), quote(script), n, quote(dir .. "/out" .. n))))
  local text = pipe:read("a")
  pipe:close()
  local clean, adversarial, peak = text:match("^(%S+)\t(%S+)\t(%d+)\n$")
  assert(peak, "the child's output: " .. text)
  return tonumber(clean), tonumber(adversarial), tonumber(peak)
end

local function lines(path)
  local f = assert(io.open(path, "rb"))
  local count = 0
  for _ in f:lines() do count = count + 1 end
  f:close()
  return count
end

function tests.twenty_thousand_images_in_the_memory_of_two_thousand()
  if not io.open("/proc/self/status") then return end  -- (VmHWM is Linux's)
  local dir = H.tmpdir()
  local _, _, small = run(2000, dir)
  local clean, adversarial, large = run(20000, dir)
  H.eq(lines(dir .. "/out20000/per_image.jsonl"), 2 * 20000, "rows: clean and FGSM per image")
  H.eq(lines(dir .. "/out20000/per_image.csv"), 2 * 20000 + 1, "per_image.csv: a header and the rows")
  assert(clean >= 0 and clean <= 1 and adversarial >= 0 and adversarial <= 1, "accuracies")
  -- Holding the 18,000 more images would take 18,000 x 3x16x16 float32 = 55 MB, and their
  -- 36,000 rows as Lua tables (some 20 fields each) tens of MB more. What a run holds instead
  -- grows with the batches only (a few sums per method and batch of 500 images, 40 against 4
  -- batches: kilobytes), so the peak may differ by allocator and collector noise, not by
  -- anything near 55 MB: a tenth of the images alone is the bound.
  local bound = 18000 * 3 * 16 * 16 * 4 / 10
  assert(large - small < bound, ("peak resident size grew from %.1f MB (2,000 images) to %.1f MB (20,000 images), "
    .. "by more than %.1f MB"):format(small / 1e6, large / 1e6, bound / 1e6))
  io.stderr:write(("  (peak resident size: %.1f MB for 2,000 images, %.1f MB for 20,000)\n"):format(small / 1e6, large / 1e6))
  H.rmdir(dir)
end

return tests
