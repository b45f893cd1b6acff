-- Runs larger than memory: smia.eval over 20,000 generated images keeps no per-image data (the
-- images are rendered per batch, the rows go to per_image.jsonl as batches finish and the
-- summary comes from sums), so its peak resident size is that of a 2,000-image run; the same
-- over an .npz file, whose rows are read per batch; and what .npz datasets read per batch
-- (stored members by offset, deflated ones inflated as a stream) is the arrays' content.
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")
local quote = H.quote

local tests = {}

-- One evaluation in a process of its own (the peak of this one carries every earlier test),
-- printing the rows written and the process's peak resident size (VmHWM, bytes).
-- The data: "fundus" (generated, 3x16x16) or an .npz path (1x28x28 float32, written by
-- another process: its writer holds the whole array).
local child = [[
local n, out, data = tonumber(arg[1]), arg[2], arg[3]
local nn = smia.nn
smia.seed(1)
local ds = data == "fundus" and smia.data.fundus{split = "test", n = n, size = 16}
  or smia.data.npz{data, images = "x", labels = "y", scale = 1, n = n, classes = 5}
local model = nn.Sequential{nn.Conv2d{ds.channels, 4, 3, padding = 1}, nn.ReLU(), nn.AdaptiveAvgPool2d{1}, nn.Flatten(), nn.Linear{4, 5}}
local rows = smia.eval{model = model, data = ds, batch_size = 500, keep = 4, out = out, progress = false, fpr = true,
                       attacks = {{"fgsm", smia.attack.fgsm{eps = 2 / 255}}}}
local status = io.open("/proc/self/status"):read("a")
print(rows[1].accuracy, rows[2].accuracy, tonumber(status:match("VmHWM:%s*(%d+) kB")) * 1024)
]]

local function run(n, dir, data)
  local script = dir .. "/child.lua"
  H.write_file(script, child)
  local pipe = assert(io.popen(("%s %s %d %s %s 2>&1"):format(quote(H.host()), quote(script), n, quote(dir .. "/out" .. n),
                                                              quote(data or "fundus"))))
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

-- The peak of the 20,000-image run is at most `bound` bytes above the 2,000-image run's.
local function flat(small, large, bound, what)
  assert(large - small < bound, ("%s: peak resident size grew from %.1f MB (2,000 images) to %.1f MB (20,000 images), "
    .. "by more than %.1f MB"):format(what, small / 1e6, large / 1e6, bound / 1e6))
  io.stderr:write(("  (%s: peak resident size %.1f MB for 2,000 images, %.1f MB for 20,000)\n"):format(what, small / 1e6, large / 1e6))
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
  flat(small, large, 18000 * 3 * 16 * 16 * 4 / 10, "generated images")
  H.rmdir(dir)
end

function tests.npz_of_20000_images_in_the_memory_of_2000()
  if not io.open("/proc/self/status") then return end
  local dir = H.tmpdir()
  local path = dir .. "/big.npz"
  local writer = dir .. "/writer.lua"
  H.write_file(writer, ([[
local T = smia.tensor
local labels = {}
for i = 1, 20000 do labels[i] = i %% 5 end
smia.io.save(%q, {x = T.rand({20000, 1, 28, 28}, 3), y = T.from(labels)})
]]):format(path))
  assert(os.execute(("%s %s"):format(quote(H.host()), quote(writer))), "writing the .npz")
  local _, _, small = run(2000, dir, path)
  local _, _, large = run(20000, dir, path)
  H.eq(lines(dir .. "/out20000/per_image.jsonl"), 2 * 20000, "rows")
  -- The 18,000 more images are 18,000 x 28x28 float32 = 56 MB in the file; read per batch of
  -- 500 (1.6 MB) they leave the peak where it was: a tenth of them is the bound, as above.
  flat(small, large, 18000 * 28 * 28 * 4 / 10, ".npz")
  H.rmdir(dir)
end

-- Batches in any order (a deflated member inflates again from its start for earlier rows) hold
-- the arrays' values: a deflated uint8 (N, H, W) member, and a stored float32 (N, H, W, C) one.
function tests.npz_batches_hold_the_arrays_values()
  local T = smia.tensor
  local fixture = H.root .. "Tests/Data/io/medmnist_like.npz"
  local raw = smia.io.load(fixture)
  local ds = smia.data.npz{fixture}
  for _, indices in ipairs{{5, 6}, {1, 2, 3}, {2}, {4, 1, 6}} do
    local b = ds:batch(indices)
    for k, i in ipairs(indices) do
      H.close(b.x[k][1], raw.train_images[i] / 255, 0, ("deflated member, image %d"):format(i))
      H.eq(b.y[k], raw.train_labels[i][1], ("label of image %d"):format(i))
    end
  end
  local dir = H.tmpdir()
  local values = {}
  for i = 1, 7 * 5 * 4 do values[i] = (i * 7) % 3 end
  local images, masks = T.rand({7, 5, 4, 3}, 9), T.from(values):reshape{7, 5, 4}
  smia.io.save(dir .. "/rgb.npz", {images = images, masks = masks})
  local rgb = smia.data.npz{dir .. "/rgb.npz", images = "images", labels = "masks", scale = 1}
  H.eq(rgb.task, "segmentation")
  for _, indices in ipairs{{6, 7}, {1}, {3, 4, 5}} do
    local b = rgb:batch(indices)
    for k, i in ipairs(indices) do
      H.close(b.x[k], images[i]:permute{3, 1, 2}, 0, ("stored member, image %d (channels last)"):format(i))
      H.close(b.y[k], masks[i], 0, ("mask %d"):format(i))
    end
  end
  H.raises(function() smia.data.npz{dir .. "/rgb.npz", images = "images", labels = "masks", scale = 0.5} end, "give the right scale")
  H.rmdir(dir)
end

return tests
