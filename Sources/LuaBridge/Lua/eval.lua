-- smia.eval: runs a set of attacks over a dataset and returns one results row per method, ready
-- for smia.report (tables, CSV, JSON) and for pictures (the first images are kept).
--
-- The model runs in eval mode and gets its mode back afterwards.
--
--   local rows = smia.eval{
--     model = m, data = ds,                 -- a module (or function) and a smia.data dataset
--     attacks = {{"fgsm", smia.attack.fgsm{}}, {"smia", smia.attack.smia{record = true}}},
--     n = 100, batch_size = 50,              -- the first n images (default: all), per batch
--     task = "fundus",                       -- the rows' task name (default: ds.name)
--     fpr = true,                            -- classification: add the false positive rate
--     classes = {1, 2},                      -- segmentation: classes averaged in jaccard and dice
--     threshold = 0.3,                       -- detection: the decoder's score threshold
--     keep = 8,                              -- images kept for pictures (rows.examples)
--     progress = true,                       -- a line per finished batch on stderr, with the
--                                            -- time left (default: if stderr is a terminal)
--     out = "runs/a",                        -- per-image results: out/per_image.jsonl and .csv
--     resume = true,                         -- continue the run in `out` (see below)
--     shard = {k, n},                        -- batches k+1, k+1+n, ... only (0 <= k < n)
--     fields = {eps = 8/255},                -- extra fields of every row (sweeps)
--     save = "runs/a/adv",                   -- adversarial images: save/<task>/<method>/<index>.npy
--     save_format = "png",                   -- or 16-bit PNGs (default "npy", float32)
--   }
--
-- With `out`, the rows of every image (smia.per_image: identity, truth, predictions, success,
-- norms, ...) are appended to out/per_image.jsonl, and flushed, as each batch finishes; the
-- images kept for pictures go to out/examples/. A rerun with `resume = true` computes only the
-- batches whose rows are not all there (a batch cut by a crash is computed again); without it
-- the rows of the same task and fields are replaced. After smia.stop_on_signals(), SIGINT or
-- SIGTERM ends the loop after the current batch, and rows.complete is false.
--
-- Rows: {task, method = "clean", accuracy, fpr} (classification), {task, method = "clean",
-- pixel_accuracy, jaccard, dice} (segmentation) or {task, method = "clean", map50, iou}
-- (detection: `model` a detector, smia.models.detector, whose decoded boxes are the predictions;
-- map50 is VOC mAP at IoU 0.5 over the set, iou the mean over all true boxes of the best IoU
-- with a predicted box of the same class in the same image, 0 when there is none), then per
-- attack the same task metrics on the
-- adversarial images plus success_rate (over the images the model got right before the
-- attack, see smia.attack), linf, l2, l0, var, cos_mean and cos_positive (attacks
-- built with record = true), psnr, ssim, forwards and gradients per image, seconds_per_image.
-- No row stays in memory: each batch's rows go to the file and into running sums
-- (smia.per_image.summary), so a run over any number of images holds one batch at a time.
-- Every figure is computed from the per-image rows (smia.per_image.summarize), so rows of
-- shards or of a resumed run summarize to the same values: task metrics pool the whole set
-- (accuracy over all images, IoU over all pixels); the perturbation figures are means over
-- images (cos_mean and cos_positive: of each image's consecutive updates).
-- rows.examples = {x, y, predictions, methods = {{name, x_adv, predictions}, ...}} for the
-- kept images; predictions are class labels (N) or label maps (N, H, W), or for detection lists
-- of boxes per image (y too), so that a column of smia.report.figure is
-- {images = ex.methods[1].x_adv, boxes = ex.methods[1].predictions}.
local smia = ...
local T = smia.tensor

local known = {model = true, data = true, attacks = true, n = true, batch_size = true, task = true,
               fpr = true, classes = true, keep = true, progress = true, threshold = true,
               out = true, resume = true, shard = true, fields = true, save = true, save_format = true}

local function fail(message) error("smia.eval: " .. message, 3) end

local function check_options(o)
  if type(o) ~= "table" then fail("expected a table of options, got " .. type(o)) end
  for k in pairs(o) do
    if not known[k] then fail(("unknown option '%s'"):format(tostring(k))) end
  end
  if not (smia.is_module(o.model) or type(o.model) == "function") then
    fail("'model' must be a module or a function, got " .. type(o.model))
  end
  local ds = o.data
  if type(ds) ~= "userdata" or type(ds.size) ~= "function" then fail("'data' must be a smia.data dataset") end
  if ds.task ~= "classification" and ds.task ~= "segmentation" and ds.task ~= "detection" then
    fail(("'data' is a %s dataset; eval covers classification, segmentation and detection"):format(tostring(ds.task)))
  end
  if ds.task == "detection" and not (smia.is_module(o.model) and o.model.decode) then
    fail("'model' must be a detector (smia.models.detector) for a detection dataset")
  end
  if o.threshold ~= nil and (type(o.threshold) ~= "number" or o.threshold ~= o.threshold) then
    fail("'threshold' must be a number, got " .. tostring(o.threshold))
  end
  if type(o.attacks) ~= "table" then fail("'attacks' must be a list of {name, attack}") end
  for i, entry in ipairs(o.attacks) do
    if type(entry) ~= "table" or type(entry[1]) ~= "string" or type(entry[2]) ~= "userdata" or not entry[2].run then
      fail(("attacks[%d] must be {name, attack}"):format(i))
    end
  end
  for _, name in ipairs{"out", "save"} do
    if o[name] ~= nil and (type(o[name]) ~= "string" or o[name] == "") then
      fail(("'%s' must be a folder name, got %s"):format(name, tostring(o[name])))
    end
  end
  if o.save_format ~= nil and o.save_format ~= "npy" and o.save_format ~= "png" then
    fail(("'save_format' must be \"npy\" or \"png\", got %s"):format(tostring(o.save_format)))
  end
  if o.resume and not o.out then fail("'resume' needs 'out', the folder of the run to continue") end
  if o.shard ~= nil then
    local k, count = type(o.shard) == "table" and o.shard[1], type(o.shard) == "table" and o.shard[2]
    if math.type(k) ~= "integer" or math.type(count) ~= "integer" or count < 1 or k < 0 or k >= count then
      fail("'shard' must be {k, n} with integers 0 <= k < n")
    end
  end
  if o.fields ~= nil then
    if type(o.fields) ~= "table" then fail("'fields' must be a table of names to numbers or strings") end
    for k, v in pairs(o.fields) do
      if type(k) ~= "string" or (type(v) ~= "number" and type(v) ~= "string") or smia.per_image.reserved(k) then
        fail(("'fields' must map new names to numbers or strings, got %s = %s"):format(tostring(k), tostring(v)))
      end
    end
  end
  for _, name in ipairs{"n", "batch_size", "keep"} do
    local v = o[name]
    if v ~= nil and (math.type(v) ~= "integer" or v < (name == "keep" and 0 or 1)) then
      fail(("'%s' must be a positive integer, got %s"):format(name, tostring(v)))
    end
  end
end

-- Predicted labels from the model's output: argmax over the classes (dimension 2; argmax is
-- 0-based like the labels); for detection the decoded boxes per image.
local function predict(model, output, task, o)
  if task == "detection" then return model:decode(output, {threshold = o.threshold}) end
  return output:argmax(2)
end

local function first(list, count)
  local out = {}
  for i = 1, math.min(count, #list) do out[i] = list[i] end
  return out
end

local function slice(t, count)
  if type(t) == "table" then return first(t, count) end
  return t:narrow(1, 1, count)
end

local function evaluate(o)
  local ds, model = o.data, o.model
  local n = math.min(o.n or ds:size(), ds:size())
  local bs, keep = o.batch_size or 32, o.keep or 8
  local task_name = o.task or ds.name
  local progress = o.progress
  if progress == nil then progress = smia.is_terminal(2) end

  local batches = (n + bs - 1) // bs
  local methods = {"clean"}
  for i, entry in ipairs(o.attacks) do methods[i + 1] = entry[1] end
  local plan = smia.per_image.plan{out = o.out, resume = o.resume, shard = o.shard, task = task_name,
                                   fields = o.fields, methods = methods, batches = batches, batch_size = bs, n = n}
  local examples = {methods = {}}
  local started, todo, finished = smia.clock(), 0, 0
  for b = 1, batches do
    if plan:todo(b) then todo = todo + 1 end
  end

  for b = 1, batches do
    if plan:todo(b) then
      local first, last = (b - 1) * bs + 1, math.min(b * bs, n)
      local indices, files = {}, {}
      for i = first, last do
        indices[#indices + 1] = i
        files[#files + 1] = ds:file(i)
      end
      local batch = ds:batch(indices)
      local count = #indices
      -- One clean forward pass per batch, shared by every attack's report; each attack's
      -- predictions come from the output its run scored the adversarial images with (for a
      -- detector the heads concatenated, which its decoder takes as well as the table).
      local clean_output = smia.no_grad(function() return model(batch.x) end)
      local clean_pred = predict(model, clean_output, ds.task, o)
      local shared = {clean_output = clean_output}
      local kept = b == 1 and keep > 0 and math.min(keep, count)
      if kept then
        examples.x, examples.y, examples.predictions = slice(batch.x, kept), slice(batch.y, kept), slice(clean_pred, kept)
      end
      local runs = {}
      for i, entry in ipairs(o.attacks) do
        local name, attack = entry[1], entry[2]
        local x_adv, stats = attack:run(model, batch.x, batch.y, shared)
        local pred = predict(model, stats.output, ds.task, o)
        runs[i] = {name, pred, stats}
        if kept then examples.methods[i] = {name = name, x_adv = slice(x_adv, kept), predictions = slice(pred, kept)} end
        if o.save then smia.per_image.save_adversarial(o.save, task_name, name, indices, x_adv, o.save_format) end
      end
      -- The pictures' images first: a batch whose rows are on disk has them there too.
      if kept then plan:save_examples(examples) end
      plan:finish(b, smia.per_image.batch_rows{task = task_name, kind = ds.task, fields = o.fields, batch = b,
                                               indices = indices, files = #files > 0 and files or nil,
                                               classes = #ds.classes, y = batch.y, clean = clean_pred, attacks = runs})
      finished = finished + 1
      if progress then
        local elapsed = smia.clock() - started
        io.stderr:write(("%s: batch %d/%d done (%d of %d batches here), %.0f s, about %.0f s left\n")
          :format(task_name, b, batches, finished, todo, elapsed, elapsed / finished * (todo - finished)))
        io.stderr:flush()
      end
    end
    if smia.stop_requested() then break end
  end
  -- Resumed after the first batch: its images come back from the folder.
  if keep > 0 and not examples.x and o.resume and plan.done[1] then
    examples = plan:load_examples() or examples
  end

  local rows = plan:summarize{fpr = o.fpr, classes = o.classes}
  rows.examples = examples
  rows.complete = plan:complete()
  if o.out then plan:write_csv() end
  return rows
end

-- The model runs in eval mode (batch norm's running statistics, no dropout), as the attacks run
-- it, and gets its mode back afterwards, also after an error.
function smia.eval(o)
  check_options(o)
  local was_training = smia.is_module(o.model) and o.model.training
  if was_training then o.model:eval() end
  local ok, rows = pcall(evaluate, o)
  if was_training then o.model:train() end
  if not ok then error(rows, 0) end
  return rows
end
