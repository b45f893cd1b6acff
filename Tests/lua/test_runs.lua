-- Research-scale runs: per-image rows and the summaries computed from them, a run killed
-- midway and resumed, shards merged, SIGTERM, adversarial images saved; smia.eval and the main
-- job (scripts/smia.lua, run as a user runs it, small: few images, two steps).
local T, nn = smia.tensor, smia.nn
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local host, quote, root = H.host, H.quote, H.root
local folders = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/run_folders.lua")
local same_runs, same_value, without_timing = folders.same_runs, folders.same_value, folders.without_timing

local read, exists = folders.read, folders.exists

local function shell(command)
  local pipe = assert(io.popen(command, "r"))
  local text = pipe:read("a")
  pipe:close()
  return text
end

-- The main job from the package root, in the foreground; returns stdout, stderr, status.
local function main_job(options, dir)
  local command = ("cd %s && %s scripts/smia.lua %s </dev/null >%s/stdout 2>%s/stderr; echo $?")
    :format(quote(root), quote(host()), options, quote(dir), quote(dir))
  local status = tonumber(shell(command))
  return read(dir .. "/stdout"), read(dir .. "/stderr"), status
end

-- Two tasks, 2 steps, 4 batches of 3 images each: small, and still several batches to cut.
local small = "--tasks fashion_mnist,fundus --n 12 --batch-size 3 --steps 2 --quiet"

local tests = {}

-- One uninterrupted run, shared by the tests that compare against it.
local reference
local function reference_run()
  if not reference then
    reference = H.tmpdir()
    local _, err, status = main_job(("%s --out %s"):format(small, quote(reference .. "/out")), reference)
    H.eq(status, 0, "exit status (stderr: " .. err .. ")")
  end
  return reference .. "/out"
end

function tests.eval_writes_per_image_rows_and_summarizes_them()
  smia.seed(3)
  local m = nn.Sequential{nn.Conv2d{3, 8, 3, padding = 1}, nn.ReLU(), nn.AdaptiveAvgPool2d{1}, nn.Flatten(), nn.Linear{8, 5}}
  local ds = smia.data.fundus{split = "val", n = 7, size = 32}
  local d = H.tmpdir()
  local rows = smia.eval{model = m, data = ds, batch_size = 3, progress = false, keep = 2, out = d, fpr = true,
                         attacks = {{"fgsm", smia.attack.fgsm{eps = 4 / 255}}, {"dev", smia.attack.dev{steps = 3, record = true}}}}
  local lines = smia.per_image.read(d .. "/per_image.jsonl")
  H.eq(#lines, 7 * 3, "one row per image and method")
  local all = ds:batch{1, 2, 3, 4, 5, 6, 7}
  local x_adv, stats = smia.attack.fgsm{eps = 4 / 255}:run(m, all.x, all.y)
  local adv = m(x_adv):argmax(2):totable()
  local success, linf = stats.success:totable(), stats.sample_linf:totable()
  -- Per batch: the clean rows, then each attack's, image by image.
  local fgsm = {}
  for _, r in ipairs(lines) do
    if r.method == "fgsm" then fgsm[#fgsm + 1] = r end
  end
  H.eq(lines[4].method, "fgsm", "batch 1: three clean rows, then FGSM's")
  for i = 1, 7 do
    local r = fgsm[i]
    H.eq(r.index, i, "index")
    H.eq(r.batch, (i - 1) // 3 + 1, "batch")
    H.eq(r.label, math.tointeger(all.y[i]), "label")
    H.eq(r.prediction, math.tointeger(adv[i]), "adversarial prediction")
    H.eq(r.success, math.tointeger(success[i]), "success")
    H.near(r.linf, linf[i], 1e-7, "linf")
  end
  -- The summary is the rows' summary, and the rows' mean is what the attacks report.
  same_value(rows[2], smia.per_image.summarize(lines, {fpr = true})[2], "summary")
  H.near(rows[2].success_rate, stats.success_rate, 1e-6, "success rate")
  H.near(rows[2].var, stats.var, 1e-6, "var")
  H.near(rows[2].psnr, stats.psnr, 1e-5, "psnr")
  assert(rows[3].cos_mean and lines[7].method == "dev" and lines[7].cos_mean, "recorded attacks give Cos per image")
  -- per_image.csv: a header and one line per row.
  local csv = read(d .. "/per_image.csv")
  local count = select(2, csv:gsub("\n", ""))
  H.eq(count, 1 + 21, "csv lines")
  assert(csv:match("^task,method,index,batch,label,prediction"), csv:sub(1, 80))
  H.rmdir(d)
end

function tests.segmentation_and_detection_summaries_from_rows()
  local seg = smia.data.ct_lung{split = "val", n = 3, size = 32}
  smia.seed(4)
  local m = nn.Sequential{nn.Conv2d{1, 3, 3, padding = 1}}
  local d = H.tmpdir()
  local rows = smia.eval{model = m, data = seg, classes = {1, 2}, progress = false, batch_size = 2, out = d,
                         attacks = {{"pgd", smia.attack.pgd{steps = 2}}}}
  local all = seg:batch{1, 2, 3}
  local pred = m(all.x):argmax(2)
  -- Pooled over all pixels: the counts of the rows in double, the metric in float32.
  H.near(rows[1].jaccard, smia.metrics.iou(pred, all.y, {classes = {1, 2}}), 1e-6, "jaccard")
  H.near(rows[1].dice, smia.metrics.dice(pred, all.y, {classes = {1, 2}}), 1e-6, "dice")
  H.near(rows[1].pixel_accuracy, smia.metrics.pixel_accuracy(pred, all.y), 1e-6, "pixel accuracy")
  local lines = smia.per_image.read(d .. "/per_image.jsonl")
  H.eq(#lines, 6)
  H.eq(lines[1].pixels, 32 * 32)
  H.rmdir(d)

  local ds = smia.data.endoscopy{split = "val", n = 3, size = 32}
  smia.seed(6)
  local det = smia.models.detector{in_channels = 3, num_classes = 5, width = 4}:eval()
  d = H.tmpdir()
  rows = smia.eval{model = det, data = ds, progress = false, batch_size = 2, threshold = 0.05, out = d,
                   attacks = {{"pgd", smia.attack.pgd{steps = 2}}}}
  local boxes = ds:batch{1, 2, 3}
  local found = det:decode(det(boxes.x), {threshold = 0.05})
  H.near(rows[1].map50, smia.metrics.map(found, boxes.y), 1e-12, "map50 from the rows' boxes")
  lines = smia.per_image.read(d .. "/per_image.jsonl")
  H.eq(#lines[1].boxes, #boxes.y[1], "true boxes in the row")
  H.rmdir(d)
end

function tests.eval_resume_and_shards_give_the_same_rows()
  smia.seed(3)
  local m = nn.Sequential{nn.Conv2d{3, 8, 3, padding = 1}, nn.ReLU(), nn.AdaptiveAvgPool2d{1}, nn.Flatten(), nn.Linear{8, 5}}
  local ds = smia.data.fundus{split = "val", n = 8, size = 32}
  local function attacks() return {{"pgd", smia.attack.pgd{steps = 2, random_start = true, seed = 1}}} end
  local whole, a, b = H.tmpdir(), H.tmpdir(), H.tmpdir()
  local base = {model = m, data = ds, batch_size = 3, progress = false, keep = 0}
  local function run(extra)
    local o = {attacks = attacks()}
    for k, v in pairs(base) do o[k] = v end
    for k, v in pairs(extra) do o[k] = v end
    return smia.eval(o)
  end
  local full = run{out = whole}
  -- Shard 1 of 2 holds batch 2 only; resuming shard 0's folder computes batches 1 and 3.
  local second = run{out = b, shard = {1, 2}}
  H.eq(second.complete, false)
  H.eq(#smia.per_image.read(b .. "/per_image.jsonl"), 3 * 2, "batch 2: three images, two methods")
  run{out = a, shard = {0, 2}}
  -- A batch cut by a crash: its rows half there and a line without its end.
  local f = io.open(b .. "/per_image.jsonl", "ab")
  f:write(read(a .. "/per_image.jsonl"):match("^[^\n]*\n"), '{"task": "fun')
  f:close()
  local resumed = run{out = b, resume = true}
  H.eq(resumed.complete, true)
  same_value(without_timing(resumed), without_timing(full), "resumed summary")
  -- The rows of batch 2 were kept (the run computed batches 1 and 3 only).
  local rows = folders.per_image_rows(b)
  H.eq(#rows, 8 * 2)
  H.eq(rows[1].batch, 2, "batch 2's rows first, as they were")
  H.rmdir(whole)
  H.rmdir(a)
  H.rmdir(b)
end

function tests.main_job_killed_midway_then_resumed_equals_one_run()
  local expected = reference_run()
  local dir = H.tmpdir()
  local out = dir .. "/out"
  -- Started in the background; SIGKILL as soon as its first batch is on disk.
  local pid = shell(("cd %s && { %s scripts/smia.lua %s --out %s </dev/null >/dev/null 2>&1 & echo $!; }")
    :format(quote(root), quote(host()), small, quote(out))):match("%d+")
  shell(("while ! grep -q . %s 2>/dev/null; do sleep 0.01; done; kill -KILL %s; "
    .. "while kill -0 %s 2>/dev/null; do sleep 0.01; done"):format(quote(out .. "/per_image.jsonl"), pid, pid))
  assert(not exists(out .. "/results.json"), "the run ended before it was killed; nothing to resume")
  local before = #smia.per_image.read(out .. "/per_image.jsonl")
  assert(before > 0 and before < 2 * 12 * 6, ("rows before the resume: %d"):format(before))
  local _, err, status = main_job(("%s --out %s --resume"):format(small, quote(out)), dir)
  H.eq(status, 0, "resume exit status (stderr: " .. err .. ")")
  same_runs(out, expected)
  H.rmdir(dir)
end

function tests.sigterm_stops_after_the_batch_then_resume_finishes()
  local expected = reference_run()
  local dir = H.tmpdir()
  local out = dir .. "/out"
  local status = tonumber(shell(("cd %s && { %s scripts/smia.lua %s --out %s </dev/null >/dev/null 2>%s & pid=$!; "
    .. "while ! grep -q . %s 2>/dev/null; do sleep 0.01; done; kill -TERM $pid; wait $pid; echo $?; }")
    :format(quote(root), quote(host()), small, quote(out), quote(dir .. "/stderr"), quote(out .. "/per_image.jsonl"))))
  H.eq(status, 3, "exit status after SIGTERM (stderr: " .. read(dir .. "/stderr") .. ")")
  assert(read(dir .. "/stderr"):find("--resume", 1, true), "says how to continue")
  -- Only whole batches on disk: every batch has all its rows (3 images, 6 methods).
  local count = {}
  for _, r in ipairs(smia.per_image.read(out .. "/per_image.jsonl")) do
    local key = r.task .. r.batch
    count[key] = (count[key] or 0) + 1
  end
  for key, c in pairs(count) do H.eq(c, 3 * 6, "rows of " .. key) end
  local _, err, code = main_job(("%s --out %s --resume"):format(small, quote(out)), dir)
  H.eq(code, 0, "resume exit status (stderr: " .. err .. ")")
  same_runs(out, expected)
  H.rmdir(dir)
end

-- The files under a folder, relative to it, sorted.
local function files_under(dir)
  local out = {}
  for line in shell(("cd %s && find . -type f | sort"):format(quote(dir))):gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

-- A merge writes the files one run writes (report.html too); the variants table is computed
-- once, by shard 0 (its progress lines say so: the other shards and the merge print none).
function tests.two_and_three_shards_merged_equal_one_run()
  local expected = reference_run()
  local loud = small:gsub(" %-%-quiet", "")
  for _, shards in ipairs{2, 3} do
    local dir = H.tmpdir()
    local outs = {}
    for k = 0, shards - 1 do
      outs[#outs + 1] = quote(("%s/shard%d"):format(dir, k))
      local _, err, status = main_job(("%s --shard %d/%d --out %s"):format(loud, k, shards, outs[#outs]), dir)
      H.eq(status, 0, "shard exit status (stderr: " .. err .. ")")
      H.eq(err:find("variants, ball protocol", 1, true) ~= nil, k == 0, ("shard %d computes the variants table"):format(k))
      H.eq(exists(("%s/shard%d/whole_run.json"):format(dir, k)), k == 0, ("shard %d keeps whole_run.json"):format(k))
      if k > 0 then
        assert(read(("%s/shard%d/tables.md"):format(dir, k)):find("Shard 0 computes them once", 1, true), "shard " .. k .. ": tables.md says where the variants are")
      end
    end
    local _, err, status = main_job(("%s --merge %s --out %s"):format(loud, table.concat(outs, " "), quote(dir .. "/merged")), dir)
    H.eq(status, 0, "merge exit status (stderr: " .. err .. ")")
    assert(not err:find("variants,", 1, true), "the merge computes no variants table: " .. err)
    same_runs(dir .. "/merged", expected)
    H.same(files_under(dir .. "/merged"), files_under(expected), "the merged folder's files against one run's")
    assert(read(dir .. "/merged/report.html"):find("Variants of SMIA", 1, true), "report.html holds the variants table")
    H.rmdir(dir)
  end
end

function tests.merge_needs_shard_0s_whole_run_work()
  local dir = H.tmpdir()
  local outs = {}
  for k = 0, 1 do
    outs[k + 1] = quote(("%s/s%d"):format(dir, k))
    local _, err, status = main_job(("%s --shard %d/2 --out %s"):format(small, k, outs[k + 1]), dir)
    H.eq(status, 0, "shard exit status (stderr: " .. err .. ")")
  end
  os.remove(dir .. "/s0/whole_run.json")
  local _, err, status = main_job(("%s --merge %s --out %s"):format(small, table.concat(outs, " "), quote(dir .. "/m")), dir)
  assert(status ~= 0 and err:find("none of the folders holds whole_run.json", 1, true), err)
  H.rmdir(dir)
end

function tests.merge_names_what_is_missing()
  local dir = H.tmpdir()
  local _, err, status = main_job(("%s --shard 0/2 --out %s"):format(small, quote(dir .. "/s0")), dir)
  H.eq(status, 0, "shard exit status (stderr: " .. err .. ")")
  _, err, status = main_job(("%s --merge %s --out %s"):format(small, quote(dir .. "/s0"), quote(dir .. "/m")), dir)
  assert(status ~= 0 and err:find("batches 2, 4 of fashion_mnist (of 4) are in none of the folders", 1, true), err)
  for _, case in ipairs{{"--shard 2/2", "0 <= K < N"}, {"--shard two", "--shard must be K/N"},
                        {"--shards 3", "JOB_COMPLETION_INDEX"}, {"--batch-size 0", "--batch-size must be at least 1"}} do
    _, err, status = main_job(case[1], dir)
    H.eq(status, 2, case[1])
    assert(err:find(case[2], 1, true), case[1] .. ": " .. err)
  end
  H.rmdir(dir)
end

function tests.shards_from_the_environment()
  local expected = reference_run()
  local dir = H.tmpdir()
  local outs = {}
  for k = 0, 1 do
    outs[#outs + 1] = quote(("%s/k%d"):format(dir, k))
    local command = ("cd %s && JOB_COMPLETION_INDEX=%d %s scripts/smia.lua %s --shards 2 --out %s </dev/null >/dev/null 2>%s/stderr; echo $?")
      :format(quote(root), k, quote(host()), small, outs[#outs], quote(dir))
    H.eq(tonumber(shell(command)), 0, "indexed-job shard (stderr: " .. read(dir .. "/stderr") .. ")")
  end
  local _, err, status = main_job(("%s --merge %s --out %s"):format(small, table.concat(outs, " "), quote(dir .. "/m")), dir)
  H.eq(status, 0, "merge (stderr: " .. err .. ")")
  same_runs(dir .. "/m", expected)
  H.rmdir(dir)
end

function tests.progress_on_stderr_whatever_stdout_is_and_quiet()
  local dir = H.tmpdir()
  local _, err, status = main_job(("--tasks fashion_mnist --n 4 --batch-size 2 --steps 1 --out %s"):format(quote(dir .. "/out")), dir)
  H.eq(status, 0, "exit status (stderr: " .. err .. ")")
  assert(err:find("fashion_mnist: batch 1/2 done %(1 of 2 batches here%), %d+ s, about %d+ s left\n"), err)
  assert(err:find("fashion_mnist: batch 2/2 done"), err)
  _, err = main_job(("--tasks fashion_mnist --n 4 --batch-size 2 --steps 1 --quiet --out %s"):format(quote(dir .. "/out")), dir)
  H.eq(err, "", "--quiet")
  H.rmdir(dir)
end

function tests.run_record_in_results_and_csv()
  local out = reference_run()
  local rows = smia.json.decode(read(out .. "/results.json"))
  assert(#rows > 0 and rows[1].task and rows[1].method, "results.json: an array of rows")
  local json = rows[1]
  for _, row in ipairs(rows) do H.eq(smia.json.encode(row.run), smia.json.encode(json.run), "the same run record in every row") end
  for _, key in ipairs{"version", "command", "seed", "n", "batch_size", "attacks", "threads", "kernels", "started", "ended"} do
    assert(type(json.run[key]) == "string" and json.run[key] ~= "", key .. " missing from the run's record")
  end
  assert(json.run.command:find("--batch-size 3", 1, true), json.run.command)
  assert(json.run.attacks:find("smia.attack.pgd{", 1, true), json.run.attacks)
  assert(json.run.started:match("^%d%d%d%d%-%d%d%-%d%dT"), json.run.started)
  local csv = read(out .. "/results.csv")
  assert(csv:match("^# attacks: ") and csv:find("\n# version: ", 1, true) and csv:find("\ntask,method,", 1, true), csv:sub(1, 300))
end

function tests.adversarial_images_saved_losslessly()
  local dir = H.tmpdir()
  local tiny = "--tasks fashion_mnist --n 3 --batch-size 2 --steps 1 --quiet --save-adv"
  local _, err, status = main_job(("%s --out %s"):format(tiny, quote(dir .. "/out")), dir)
  H.eq(status, 0, "exit status (stderr: " .. err .. ")")
  -- Two shards merged: the same images in the merged folder.
  for k = 0, 1 do
    _, err, status = main_job(("%s --shard %d/2 --out %s"):format(tiny, k, quote(("%s/s%d"):format(dir, k))), dir)
    H.eq(status, 0, "shard exit status (stderr: " .. err .. ")")
  end
  _, err, status = main_job(("%s --merge %s %s --out %s"):format(tiny, quote(dir .. "/s0"), quote(dir .. "/s1"), quote(dir .. "/m")), dir)
  H.eq(status, 0, "merge exit status (stderr: " .. err .. ")")
  local files = files_under(dir .. "/out/adversarial")
  H.eq(#files, 3 * 5, "three images, five methods")
  H.same(files_under(dir .. "/m/adversarial"), files, "the merged adversarial images")
  H.eq(read(dir .. "/m/adversarial/fashion_mnist/pgd/000003.npy"), read(dir .. "/out/adversarial/fashion_mnist/pgd/000003.npy"), "an image of shard 1")
  local saved = smia.io.read_array(dir .. "/out/adversarial/fashion_mnist/fgsm/000002.npy")
  H.same(saved:shape(), {1, 28, 28})
  -- FGSM is per image: the image saved is the attack's own, to the last bit.
  local ds = smia.data.fashion_mnist{split = "test", n = 3}
  local tasks = dofile(root .. "scripts/lib/tasks.lua")
  local model = tasks.load_model(tasks.fashion_mnist)
  local batch = ds:batch{1, 2, 3}
  local x_adv = smia.attack.fgsm{eps = 8 / 255}:run(model, batch.x, batch.y)
  H.eq((saved - x_adv[2]):abs():max():item(), 0, "bit-exact")
  -- As 16-bit PNGs: within half a step of 1/65535.
  _, err, status = main_job(("--tasks fashion_mnist --n 3 --steps 1 --quiet --save-adv --save-format png --out %s")
    :format(quote(dir .. "/png")), dir)
  H.eq(status, 0, "exit status (stderr: " .. err .. ")")
  local png = smia.image.read(dir .. "/png/adversarial/fashion_mnist/fgsm/000002.png")
  assert((png - x_adv[2]):abs():max():item() <= 0.5 / 65535 + 1e-7, "16-bit PNG within half a step")
  _, err, status = main_job("--save-format jpeg", dir)
  H.eq(status, 2, "bad --save-format")
  assert(err:find("--save-format must be npy or png", 1, true), err)
  H.rmdir(dir)
end

function tests.npz_and_16_bit_png_writing()
  local dir = H.tmpdir()
  local a, b = T.rand({2, 3, 5}, 1), T.from{{1, 2}, {3, 4}}
  smia.io.save(dir .. "/arrays.npz", {images = a, labels = b})
  local back = smia.io.load(dir .. "/arrays.npz")
  H.eq((back.images - a):abs():max():item(), 0, "images back bit for bit")
  H.eq((back.labels - b):abs():max():item(), 0, "labels back")
  -- A perturbation of 0.5/255 survives a 16-bit PNG and is erased by an 8-bit one.
  local clean = T.full({3, 8, 8}, 100 / 255)
  local adv = clean + T.full({3, 8, 8}, 0.5 / 255)
  smia.image.write(dir .. "/adv16.png", adv, {bits = 16})
  smia.image.write(dir .. "/adv8.png", adv)
  local eta16 = (smia.image.read(dir .. "/adv16.png") - clean):mean():item()
  H.near(eta16, 0.5 / 255, 1 / 65535, "16-bit perturbation")
  local eta8 = (smia.image.read(dir .. "/adv8.png") - clean):abs():max():item()
  assert(math.abs(eta8 - 0.5 / 255) > 0.4 / 255, "the 8-bit PNG rounds the perturbation away or to a full step")
  H.raises(function() smia.image.write(dir .. "/x.png", adv, {bits = 12}) end, "option 'bits' must be 8 or 16")
  H.raises(function() smia.image.write(dir .. "/x.png", adv, {bits = 16, mask = true}) end, "masks are 8-bit")
  H.rmdir(dir)
end

function tests.z_cleanup()
  if reference then H.rmdir(reference) end
end

return tests
