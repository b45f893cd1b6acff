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
--     progress = true,                       -- a progress line on stderr (default: if a terminal)
--   }
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
-- Task metrics pool the whole set (accuracy over all images, IoU over all pixels); the
-- perturbation figures are means over images.
-- rows.examples = {x, y, predictions, methods = {{name, x_adv, predictions}, ...}} for the
-- kept images; predictions are class labels (N) or label maps (N, H, W), or for detection lists
-- of boxes per image (y too), so that a column of smia.report.figure is
-- {images = ex.methods[1].x_adv, boxes = ex.methods[1].predictions}.
local smia = ...
local T = smia.tensor

local known = {model = true, data = true, attacks = true, n = true, batch_size = true, task = true,
               fpr = true, classes = true, keep = true, progress = true, threshold = true}

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
  for _, name in ipairs{"n", "batch_size", "keep"} do
    local v = o[name]
    if v ~= nil and (math.type(v) ~= "integer" or v < (name == "keep" and 0 or 1)) then
      fail(("'%s' must be a positive integer, got %s"):format(name, tostring(v)))
    end
  end
end

-- Predicted labels: argmax over the classes (dimension 2; argmax is 0-based like the labels);
-- for detection the decoded boxes per image.
local function predict(model, x, task, o)
  if task == "detection" then
    return smia.no_grad(function() return model:decode(model(x), {threshold = o.threshold}) end)
  end
  return smia.no_grad(function() return model(x):argmax(2) end)
end

-- Lists of boxes per image, concatenated (batches) or cut (examples).
local function join(lists)
  local out = {}
  for _, list in ipairs(lists) do
    for _, v in ipairs(list) do out[#out + 1] = v end
  end
  return out
end

local function first(list, count)
  local out = {}
  for i = 1, math.min(count, #list) do out[i] = list[i] end
  return out
end

-- The task metrics of predictions against truths, as fields of row.
local function task_metrics(row, task, pred, y, o)
  if task == "classification" then
    row.accuracy = smia.metrics.accuracy(pred, y)
    if o.fpr then row.fpr = smia.metrics.fpr(pred, y) end
  elseif task == "detection" then
    row.map50 = smia.metrics.map(pred, y)
    row.iou = smia.metrics.mean_box_iou(pred, y)
  else
    local options = o.classes and {classes = o.classes} or nil
    row.pixel_accuracy = smia.metrics.pixel_accuracy(pred, y)
    row.jaccard = smia.metrics.iou(pred, y, options)
    row.dice = smia.metrics.dice(pred, y, options)
  end
  return row
end

-- Perturbation figures averaged over images (weighted by batch size), costs summed.
local averaged = {"success_rate", "linf", "l2", "l0", "var", "cos_mean", "cos_positive", "psnr", "ssim"}
local summed = {"forwards", "gradients", "seconds"}

local function slice(t, count)
  if type(t) == "table" then return first(t, count) end
  return t:narrow(1, 1, count)
end

-- Batches of labels or predictions as one: tensors along dimension 1, box lists joined.
local function concat(parts)
  if type(parts[1]) == "table" then return join(parts) end
  return T.cat(parts, 1)
end

local function evaluate(o)
  local ds, model = o.data, o.model
  local n = math.min(o.n or ds:size(), ds:size())
  local bs, keep = o.batch_size or 32, o.keep or 8
  local task_name = o.task or ds.name
  local progress = o.progress
  if progress == nil then progress = smia.is_terminal(2) end

  local truths, clean_preds = {}, {}
  local per_attack = {}
  for i, entry in ipairs(o.attacks) do per_attack[i] = {preds = {}, sums = {}, weights = {}} end
  local examples = {methods = {}}
  local started = smia.clock()

  local batches = (n + bs - 1) // bs
  for b = 1, batches do
    local first, last = (b - 1) * bs + 1, math.min(b * bs, n)
    local indices = {}
    for i = first, last do indices[#indices + 1] = i end
    local batch = ds:batch(indices)
    local count = #indices
    truths[b] = batch.y
    clean_preds[b] = predict(model, batch.x, ds.task, o)
    if b == 1 and keep > 0 then
      local k = math.min(keep, count)
      examples.x, examples.y, examples.predictions = slice(batch.x, k), slice(batch.y, k), slice(clean_preds[1], k)
    end
    for i, entry in ipairs(o.attacks) do
      local name, attack = entry[1], entry[2]
      if progress then
        io.stderr:write(("\r%s: batch %d/%d, %s (%.0f s)   "):format(task_name, b, batches, name, smia.clock() - started))
        io.stderr:flush()
      end
      local x_adv, stats = attack:run(model, batch.x, batch.y)
      local acc = per_attack[i]
      acc.preds[b] = predict(model, x_adv, ds.task, o)
      for _, key in ipairs(averaged) do
        if type(stats[key]) == "number" and stats[key] == stats[key] then
          -- success_rate counts only the images the model got right before the attack.
          local weight = key == "success_rate" and stats.clean_correct or count
          acc.sums[key] = (acc.sums[key] or 0) + stats[key] * weight
          acc.weights[key] = (acc.weights[key] or 0) + weight
        end
      end
      for _, key in ipairs(summed) do acc.sums[key] = (acc.sums[key] or 0) + (stats[key] or 0) end
      if b == 1 and keep > 0 then
        local k = math.min(keep, count)
        examples.methods[i] = {name = name, x_adv = slice(x_adv, k), predictions = slice(acc.preds[1], k)}
      end
    end
  end
  if progress then io.stderr:write(("\r%s: %d images, %d attacks, %.1f s%s\n"):format(task_name, n, #o.attacks, smia.clock() - started, string.rep(" ", 20))) end

  local y = concat(truths)
  local rows = {examples = examples}
  rows[1] = task_metrics({task = task_name, method = "clean"}, ds.task, concat(clean_preds), y, o)
  for i, entry in ipairs(o.attacks) do
    local acc = per_attack[i]
    local row = task_metrics({task = task_name, method = entry[1]}, ds.task, concat(acc.preds), y, o)
    for _, key in ipairs(averaged) do
      if acc.weights[key] then row[key] = acc.sums[key] / acc.weights[key] end
    end
    row.forwards, row.gradients = acc.sums.forwards / n, acc.sums.gradients / n
    row.seconds_per_image = acc.sums.seconds / n
    rows[#rows + 1] = row
  end
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
