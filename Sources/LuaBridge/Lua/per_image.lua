-- smia.per_image: one result row per task, method and image, and the summary rows computed from
-- them. smia.eval writes these rows to per_image.jsonl and per_image.csv; because every summary
-- figure is computed from the rows alone, rows read back from several runs (shards, or a run
-- resumed after a crash) give the same summary as one run.
--
-- A row: task, method, the evaluation's extra fields (e.g. eps in a sweep), index (1-based
-- position in the dataset), file (datasets of files), batch; then by task
--   classification: label, prediction, correct (0/1) and, after an attack, clean_prediction;
--   segmentation:   pixels, correct_pixels, and per class (list index = class + 1) the pixel
--                   counts intersection, predicted, actual;
--   detection:      boxes (the true ones), detections (with scores);
-- and after an attack: clean_correct (0/1: the model got the image right before the attack;
-- success_rate counts only these images), success (0/1), linf, l2, l0, var, psnr, ssim, cos_mean, cos_positive
-- (attacks built with record = true), forwards, gradients and seconds (the batch's, per image).
--
--   smia.per_image.summarize(rows[, {fpr = true, classes = {1, 2}}]) -> summary rows, one per
--     task, method and fields, in order of first appearance (the rows of smia.eval)
--   smia.per_image.read(path) -> rows      smia.per_image.write(dir, rows)  (jsonl and csv, whole)
local smia = ...
local T = smia.tensor

local per_image = {}

-- The order of a row's fields in the files; extra fields go after method.
per_image.order = {"task", "method", "index", "file", "batch", "label", "prediction", "clean_prediction",
                   "correct", "clean_correct", "success", "linf", "l2", "l0", "var", "psnr", "ssim", "cos_mean", "cos_positive",
                   "forwards", "gradients", "seconds", "pixels", "correct_pixels", "intersection",
                   "predicted", "actual", "boxes", "detections"}
local known = {}
for _, k in ipairs(per_image.order) do known[k] = true end

-- Whether `name` is a field of the rows themselves (not free for an evaluation's extra fields).
function per_image.reserved(name) return known[name] == true end

-- Per-sample statistics of an attack run and the row fields they fill.
local sample_fields = {success = "success", sample_clean_correct = "clean_correct", sample_linf = "linf", sample_l2 = "l2", sample_l0 = "l0",
                       sample_var = "var", sample_psnr = "psnr", sample_ssim = "ssim",
                       sample_cos_mean = "cos_mean", sample_cos_positive = "cos_positive"}

local function integers(t)
  local out = {}
  for i, v in ipairs(t:totable()) do out[i] = math.tointeger(v) or v end
  return out
end

-- Per image, pixel counts of segmentation predictions against the truth, classes 0..k-1.
local function overlaps(pred, y, k)
  local n = pred:shape()[1]
  local p, t = pred:reshape{n, -1}, y:reshape{n, -1}
  local out = {pixels = p:shape()[2], correct = integers(p:eq(t):sum(2)), intersection = {}, predicted = {}, actual = {}}
  for c = 0, k - 1 do
    local pc, tc = p:eq(c), t:eq(c)
    out.intersection[c + 1] = integers((pc * tc):sum(2))
    out.predicted[c + 1] = integers(pc:sum(2))
    out.actual[c + 1] = integers(tc:sum(2))
  end
  return out
end

-- The task part of image i's row: its truth and a prediction (`clean` the clean prediction
-- when the row is an attack's).
local function task_fields(row, kind, i, y, pred, clean, counts)
  if kind == "classification" then
    row.label, row.prediction = y[i], pred[i]
    row.correct = pred[i] == y[i] and 1 or 0
    if clean then row.clean_prediction = clean[i] end
  elseif kind == "segmentation" then
    row.pixels, row.correct_pixels = counts.pixels, counts.correct[i]
    row.intersection, row.predicted, row.actual = {}, {}, {}
    for c = 1, #counts.intersection do
      row.intersection[c], row.predicted[c], row.actual[c] =
        counts.intersection[c][i], counts.predicted[c][i], counts.actual[c][i]
    end
  else
    row.boxes, row.detections = y[i], pred[i]
  end
end

-- The rows of one batch: b = {task, kind, fields, batch, indices, files, classes (a count), y,
-- clean (predictions), attacks = {{name, predictions, stats}, ...}}; predictions and y are
-- tensors (classification, segmentation) or lists of boxes per image (detection).
function per_image.batch_rows(b)
  local function plain(v)
    if b.kind == "detection" then return v end
    if b.kind == "classification" then return integers(v) end
    return v
  end
  local y = plain(b.y)
  local function rows_of(method, pred, stats, clean)
    local counts = b.kind == "segmentation" and overlaps(pred, b.y, b.classes) or nil
    local p = plain(pred)
    local samples = {}
    if stats then
      for key, field in pairs(sample_fields) do
        if stats[key] then samples[field] = stats[key]:totable() end
      end
    end
    local out = {}
    for i, index in ipairs(b.indices) do
      local row = {task = b.task, method = method, index = index, file = b.files and b.files[i], batch = b.batch}
      for k, v in pairs(b.fields or {}) do row[k] = v end
      task_fields(row, b.kind, i, y, p, clean, counts)
      if stats then
        for field, values in pairs(samples) do
          local v = values[i]
          if v == v then row[field] = math.tointeger(v) or v end
        end
        local count = #b.indices
        row.forwards, row.gradients, row.seconds = stats.forwards / count, stats.gradients / count, stats.seconds / count
      end
      out[#out + 1] = row
    end
    return out
  end
  local rows = rows_of("clean", b.clean)
  local clean = b.kind == "classification" and plain(b.clean) or nil
  for _, a in ipairs(b.attacks) do
    for _, row in ipairs(rows_of(a[1], a[2], a[3], clean)) do rows[#rows + 1] = row end
  end
  return rows
end

-- The key of a row's evaluation: its task and extra fields (not its method).
function per_image.group(row)
  local extra = {}
  for k, v in pairs(row) do
    if not known[k] then extra[k] = v end
  end
  return smia.json.encode(extra)
end

-- Summary ------------------------------------------------------------------------------------

local averaged = {{"linf", "linf"}, {"l2", "l2"}, {"l0", "l0"}, {"var", "var"},
                  {"cos_mean", "cos_mean"}, {"cos_positive", "cos_positive"}, {"psnr", "psnr"}, {"ssim", "ssim"}}

local function classification_metrics(out, rows, o)
  local pred, y = {}, {}
  for i, r in ipairs(rows) do pred[i], y[i] = r.prediction, r.label end
  pred, y = T.from(pred), T.from(y)
  out.accuracy = smia.metrics.accuracy(pred, y)
  if o.fpr then out.fpr = smia.metrics.fpr(pred, y) end
end

-- Pooled over all pixels of all images, as smia.metrics.iou and dice: per class the summed
-- counts, then the mean over `classes` (0-based labels) or over every class with a value.
local function segmentation_metrics(out, rows, o)
  local pixels, correct, inter, pred, actual = 0, 0, {}, {}, {}
  for _, r in ipairs(rows) do
    pixels, correct = pixels + r.pixels, correct + r.correct_pixels
    for c = 1, #r.intersection do
      inter[c] = (inter[c] or 0) + r.intersection[c]
      pred[c] = (pred[c] or 0) + r.predicted[c]
      actual[c] = (actual[c] or 0) + r.actual[c]
    end
  end
  out.pixel_accuracy = correct / pixels
  local function mean(value)
    local chosen = {}
    if o.classes then
      for _, c in ipairs(o.classes) do chosen[#chosen + 1] = c + 1 end
    else
      for c = 1, #inter do chosen[#chosen + 1] = c end
    end
    local sum, count = 0, 0
    for _, c in ipairs(chosen) do
      local v = inter[c] and value(inter[c], pred[c], actual[c])
      if v then sum, count = sum + v, count + 1 end
    end
    return count > 0 and sum / count or 0 / 0
  end
  out.jaccard = mean(function(i, p, a) local u = p + a - i return u > 0 and i / u or nil end)
  out.dice = mean(function(i, p, a) return p + a > 0 and 2 * i / (p + a) or nil end)
end

local function detection_metrics(out, rows)
  local detections, truths = {}, {}
  for i, r in ipairs(rows) do detections[i], truths[i] = r.detections or {}, r.boxes or {} end
  out.map50 = smia.metrics.map(detections, truths)
  out.iou = smia.metrics.mean_box_iou(detections, truths)
end

-- One summary row from the per-image rows of one task, method and fields.
local function summary_row(rows, o)
  local first = rows[1]
  local out = {}
  for k, v in pairs(first) do
    if not known[k] or k == "task" or k == "method" then out[k] = v end
  end
  if first.label ~= nil then classification_metrics(out, rows, o)
  elseif first.pixels ~= nil then segmentation_metrics(out, rows, o)
  else detection_metrics(out, rows) end
  if first.method == "clean" then return out end
  -- success_rate: over the images the model got right before the attack (none: absent).
  local successes, counted = 0, 0
  for _, r in ipairs(rows) do
    if r.success and r.clean_correct ~= 0 then successes, counted = successes + r.success, counted + 1 end
  end
  if counted > 0 then out.success_rate = successes / counted end
  for _, pair in ipairs(averaged) do
    local sum, count = 0, 0
    for _, r in ipairs(rows) do
      local v = r[pair[1]]
      if v then sum, count = sum + v, count + 1 end
    end
    if count > 0 then out[pair[2]] = sum / count end
  end
  local forwards, gradients, seconds = 0, 0, 0
  for _, r in ipairs(rows) do
    forwards, gradients, seconds = forwards + (r.forwards or 0), gradients + (r.gradients or 0), seconds + (r.seconds or 0)
  end
  out.forwards, out.gradients, out.seconds_per_image = forwards / #rows, gradients / #rows, seconds / #rows
  return out
end

-- Rows ordered by their position in the dataset (stable: a sort by index alone).
local function by_index(rows)
  local sorted = table.move(rows, 1, #rows, 1, {})
  table.sort(sorted, function(a, b) return a.index < b.index end)
  return sorted
end

function per_image.summarize(rows, options)
  if type(rows) ~= "table" then error("smia.per_image.summarize: expected a list of rows, got " .. type(rows), 2) end
  local o = options or {}
  local groups, order = {}, {}
  for i, r in ipairs(rows) do
    if type(r) ~= "table" or type(r.task) ~= "string" or type(r.method) ~= "string" or math.type(r.index) ~= "integer" then
      error(("smia.per_image.summarize: row %d needs a task, a method and an integer index"):format(i), 2)
    end
    local key = r.method .. "\0" .. r.task .. "\0" .. per_image.group(r)
    if not groups[key] then
      groups[key] = {}
      order[#order + 1] = key
    end
    local g = groups[key]
    g[#g + 1] = r
  end
  local out = {}
  for _, key in ipairs(order) do out[#out + 1] = summary_row(by_index(groups[key]), o) end
  return out
end

-- Files ----------------------------------------------------------------------------------------

local function fail(message) error("smia.per_image: " .. message, 3) end

-- The rows of a per_image.jsonl file. A last line without its newline was cut by a crash
-- and is left out; any other bad line is an error naming it.
function per_image.read(path)
  local f, message = io.open(path, "rb")
  if not f then fail(("cannot read '%s': %s"):format(path, message)) end
  local text = f:read("a")
  f:close()
  local rows, number = {}, 0
  for line, newline in text:gmatch("([^\n]*)(\n?)") do
    number = number + 1
    if newline == "" then break end
    if line ~= "" then
      local ok, row = pcall(smia.json.decode, line)
      if not ok or type(row) ~= "table" or type(row.task) ~= "string" then
        fail(("'%s' line %d is not a result row: %s"):format(path, number, ok and "no task" or row))
      end
      rows[#rows + 1] = row
    end
  end
  return rows
end

function per_image.line(row)
  return smia.json.encode(row, {order = per_image.order}) .. "\n"
end

-- Appends rows to a per_image.jsonl and flushes them: a crash keeps every batch appended.
function per_image.append(path, rows)
  local lines = {}
  for i, r in ipairs(rows) do lines[i] = per_image.line(r) end
  local f, message = io.open(path, "ab")
  if not f then fail(("cannot write '%s': %s"):format(path, message)) end
  f:write(table.concat(lines))
  f:flush()
  f:close()
end

-- Writes `text` to path through a temporary file and a rename, so that a reader never sees
-- half a file.
function per_image.write_whole(path, text)
  local temporary = path .. ".partial"
  local f, message = io.open(temporary, "wb")
  if not f then fail(("cannot write '%s': %s"):format(temporary, message)) end
  f:write(text)
  f:close()
  local ok, err = os.rename(temporary, path)
  if not ok then fail(("cannot rename '%s' to '%s': %s"):format(temporary, path, err)) end
end

local function csv_field(v)
  if v == nil then return "" end
  if type(v) == "table" then v = smia.json.encode(v) end
  if type(v) == "number" then v = smia.json.encode(v) end
  if v == "null" then return "" end
  if v:find('[,"\r\n]') then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end

-- The CSV of rows: known columns in order (extra fields after method), lists as JSON text.
function per_image.csv(rows)
  local present, extra = {}, {}
  for _, r in ipairs(rows) do
    for k in pairs(r) do
      if not present[k] then
        present[k] = true
        if not known[k] then extra[#extra + 1] = k end
      end
    end
  end
  table.sort(extra)
  local columns = {"task", "method"}
  for _, k in ipairs(extra) do columns[#columns + 1] = k end
  for i = 3, #per_image.order do
    if present[per_image.order[i]] then columns[#columns + 1] = per_image.order[i] end
  end
  local lines = {table.concat(columns, ",")}
  for _, r in ipairs(rows) do
    local cells = {}
    for i, c in ipairs(columns) do cells[i] = csv_field(r[c]) end
    lines[#lines + 1] = table.concat(cells, ",")
  end
  return table.concat(lines, "\n") .. "\n"
end

-- Writes dir/per_image.jsonl and dir/per_image.csv whole.
function per_image.write(dir, rows)
  local lines = {}
  for i, r in ipairs(rows) do lines[i] = per_image.line(r) end
  per_image.write_whole(dir .. "/per_image.jsonl", table.concat(lines))
  per_image.write_whole(dir .. "/per_image.csv", per_image.csv(rows))
end

-- Adversarial images, losslessly: dir/<task>/<method>/<index>.npy, float32 (C, H, W), or with
-- format "png" <index>.png, 16-bit (steps of 1/65535); index the image's 1-based position in
-- the dataset (its row's index).
function per_image.save_adversarial(dir, task, method, indices, x_adv, format)
  local folder = ("%s/%s/%s"):format(dir, task, method)
  if not os.execute("mkdir -p '" .. folder:gsub("'", "'\\''") .. "'") then fail(("cannot create '%s'"):format(folder)) end
  local shape = x_adv:shape()
  table.remove(shape, 1)
  for i, index in ipairs(indices) do
    local image = x_adv:narrow(1, i, 1):reshape(shape)
    if format == "png" then
      smia.image.write(("%s/%06d.png"):format(folder, index), image, {bits = 16})
    else
      smia.io.save(("%s/%06d.npy"):format(folder, index), image)
    end
  end
end

smia.per_image = per_image
