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
--   smia.per_image.summary() -> s; s:add(row) ... s:result(options)   (the same, streamed)
--   smia.per_image.read(path) -> rows      smia.per_image.write(dir, rows)  (jsonl and csv, whole)
--   smia.per_image.each(path, fn)          smia.per_image.csv_of_file(jsonl, csv)  (streamed)
local smia = ...

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
--
-- A streaming accumulator: rows go in one at a time and only sums stay (per task, method,
-- fields and batch), so a run of any length summarizes in flat memory (detection keeps the
-- boxes, which mAP ranks over the whole set). Sums are kept per batch and added up in batch
-- order at the end, rows in index order within a batch: one run, a resumed run and merged
-- shards add the same numbers in the same order and give the same summary to the last bit.
--
--   local s = smia.per_image.summary()
--   s:add(row)            (rows of a batch in index order)
--   s:drop(batch)         forgets the rows of a batch (one cut by a crash)
--   s:result(options)     the summary rows, as smia.per_image.summarize

local averaged = {"linf", "l2", "l0", "var", "cos_mean", "cos_positive", "psnr", "ssim"}

-- Float32 rounding of a double: accuracy and fpr as smia.metrics computes them (a quotient of
-- two integers below 2^24 rounded once to float32; rounding the double quotient is the same).
local function float32(v) return (string.unpack("<f", string.pack("<f", v))) end

local function new_part()
  return {rows = 0, correct = 0, healthy = 0, flagged = 0, pixels = 0, correct_pixels = 0, inter = {}, pred = {},
          actual = {}, detections = {}, truths = {}, successes = 0, counted = 0, sums = {}, counts = {},
          forwards = 0, gradients = 0, seconds = 0}
end

local function add_counts(into, from)
  for c = 1, #from do into[c] = (into[c] or 0) + from[c] end
end

-- Adds one row to a batch's part.
local function accumulate(p, r)
  p.rows = p.rows + 1
  if r.label ~= nil then
    if r.prediction == r.label then p.correct = p.correct + 1 end
    if r.label == 0 then
      p.healthy = p.healthy + 1
      if r.prediction > 0 then p.flagged = p.flagged + 1 end
    end
  elseif r.pixels ~= nil then
    p.pixels, p.correct_pixels = p.pixels + r.pixels, p.correct_pixels + r.correct_pixels
    add_counts(p.inter, r.intersection)
    add_counts(p.pred, r.predicted)
    add_counts(p.actual, r.actual)
  else
    p.detections[#p.detections + 1] = r.detections or {}
    p.truths[#p.truths + 1] = r.boxes or {}
  end
  if r.method == "clean" then return end
  -- success_rate: over the images the model got right before the attack.
  if r.success and r.clean_correct ~= 0 then p.successes, p.counted = p.successes + r.success, p.counted + 1 end
  for _, name in ipairs(averaged) do
    local v = r[name]
    if v then p.sums[name], p.counts[name] = (p.sums[name] or 0) + v, (p.counts[name] or 0) + 1 end
  end
  p.forwards, p.gradients, p.seconds = p.forwards + (r.forwards or 0), p.gradients + (r.gradients or 0), p.seconds + (r.seconds or 0)
end

-- The parts of a group added up in batch order.
local function total(parts)
  local batches = {}
  for b in pairs(parts) do batches[#batches + 1] = b end
  table.sort(batches)
  local t = new_part()
  for _, b in ipairs(batches) do
    local p = parts[b]
    for _, k in ipairs{"rows", "correct", "healthy", "flagged", "pixels", "correct_pixels", "successes", "counted",
                       "forwards", "gradients", "seconds"} do
      t[k] = t[k] + p[k]
    end
    add_counts(t.inter, p.inter)
    add_counts(t.pred, p.pred)
    add_counts(t.actual, p.actual)
    table.move(p.detections, 1, #p.detections, #t.detections + 1, t.detections)
    table.move(p.truths, 1, #p.truths, #t.truths + 1, t.truths)
    for _, name in ipairs(averaged) do
      if p.counts[name] then
        t.sums[name], t.counts[name] = (t.sums[name] or 0) + p.sums[name], (t.counts[name] or 0) + p.counts[name]
      end
    end
  end
  return t, #batches
end

-- Pooled over all pixels of all images, as smia.metrics.iou and dice: per class the summed
-- counts, then the mean over `classes` (0-based labels) or over every class with a value.
local function segmentation_metrics(out, t, o)
  out.pixel_accuracy = t.correct_pixels / t.pixels
  local function mean(value)
    local chosen = {}
    if o.classes then
      for _, c in ipairs(o.classes) do chosen[#chosen + 1] = c + 1 end
    else
      for c = 1, #t.inter do chosen[#chosen + 1] = c end
    end
    local sum, count = 0, 0
    for _, c in ipairs(chosen) do
      local v = t.inter[c] and value(t.inter[c], t.pred[c], t.actual[c])
      if v then sum, count = sum + v, count + 1 end
    end
    return count > 0 and sum / count or 0 / 0
  end
  out.jaccard = mean(function(i, p, a) local u = p + a - i return u > 0 and i / u or nil end)
  out.dice = mean(function(i, p, a) return p + a > 0 and 2 * i / (p + a) or nil end)
end

-- One summary row from a group's totals.
local function summary_row(g, o)
  local t = total(g.parts)
  local out = {}
  for k, v in pairs(g.fields) do out[k] = v end
  if g.kind == "classification" then
    out.accuracy = float32(t.correct / t.rows)
    if o.fpr and t.healthy > 0 then out.fpr = float32(t.flagged / t.healthy) end
  elseif g.kind == "segmentation" then
    segmentation_metrics(out, t, o)
  else
    out.map50 = smia.metrics.map(t.detections, t.truths)
    out.iou = smia.metrics.mean_box_iou(t.detections, t.truths)
  end
  if g.fields.method == "clean" then return out end
  if t.counted > 0 then out.success_rate = t.successes / t.counted end
  for _, name in ipairs(averaged) do
    if t.counts[name] then out[name] = t.sums[name] / t.counts[name] end
  end
  out.forwards, out.gradients, out.seconds_per_image = t.forwards / t.rows, t.gradients / t.rows, t.seconds / t.rows
  return out
end

local Summary = {}
Summary.__index = Summary

function per_image.summary() return setmetatable({groups = {}, order = {}}, Summary) end

function Summary:add(r)
  local key = r.method .. "\0" .. r.task .. "\0" .. per_image.group(r)
  local g = self.groups[key]
  if not g then
    -- The summary row's own fields: task, method and the evaluation's extra fields.
    local fields = {}
    for k, v in pairs(r) do
      if not known[k] or k == "task" or k == "method" then fields[k] = v end
    end
    g = {fields = fields, parts = {},
         kind = r.label ~= nil and "classification" or r.pixels ~= nil and "segmentation" or "detection"}
    self.groups[key] = g
    self.order[#self.order + 1] = key
  end
  local b = r.batch or 0
  local p = g.parts[b]
  if not p then
    p = new_part()
    g.parts[b] = p
  end
  accumulate(p, r)
end

function Summary:drop(batch)
  for _, g in pairs(self.groups) do g.parts[batch] = nil end
end

function Summary:result(options)
  local o = options or {}
  local out = {}
  for _, key in ipairs(self.order) do
    local g = self.groups[key]
    if next(g.parts) then out[#out + 1] = summary_row(g, o) end
  end
  return out
end

function per_image.summarize(rows, options)
  if type(rows) ~= "table" then error("smia.per_image.summarize: expected a list of rows, got " .. type(rows), 2) end
  for i, r in ipairs(rows) do
    if type(r) ~= "table" or type(r.task) ~= "string" or type(r.method) ~= "string" or math.type(r.index) ~= "integer" then
      error(("smia.per_image.summarize: row %d needs a task, a method and an integer index"):format(i), 2)
    end
  end
  -- Index order within each batch (stable: a sort by position in the list breaks ties).
  local position = {}
  for i, r in ipairs(rows) do position[r] = i end
  local sorted = table.move(rows, 1, #rows, 1, {})
  table.sort(sorted, function(a, b)
    if a.index ~= b.index then return a.index < b.index end
    return position[a] < position[b]
  end)
  local s = per_image.summary()
  for _, r in ipairs(sorted) do s:add(r) end
  -- Groups in order of first appearance in the list.
  local first = {}
  for _, r in ipairs(rows) do
    local key = r.method .. "\0" .. r.task .. "\0" .. per_image.group(r)
    if not first[key] then
      first[key] = true
      first[#first + 1] = key
    end
  end
  s.order = table.move(first, 1, #first, 1, {})
  return s:result(options)
end

-- Files ----------------------------------------------------------------------------------------

local function fail(message) error("smia.per_image: " .. message, 3) end

-- The rows of a per_image.jsonl file one at a time, read line by line (a file of any size in
-- flat memory): for each row `each(row, line, offset)`, `line` its text with the newline and
-- `offset` where it starts in the file. A last line without its newline was cut by a crash
-- and is left out; any other bad line is an error naming it.
function per_image.each(path, each)
  local f, message = io.open(path, "rb")
  if not f then fail(("cannot read '%s': %s"):format(path, message)) end
  local number, offset = 0, 0
  for line in f:lines("L") do
    number = number + 1
    if line:sub(-1) ~= "\n" then break end
    if line ~= "\n" then
      local ok, row = pcall(smia.json.decode, line)
      if not ok or type(row) ~= "table" or type(row.task) ~= "string" then
        f:close()
        fail(("'%s' line %d is not a result row: %s"):format(path, number, ok and "no task" or row))
      end
      each(row, line, offset)
    end
    offset = offset + #line
  end
  f:close()
end

-- The rows of a per_image.jsonl file, all in a list.
function per_image.read(path)
  local rows = {}
  per_image.each(path, function(row) rows[#rows + 1] = row end)
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

-- Writes a file through a temporary file and a rename, so that a reader never sees half a
-- file: `produce(write)` calls write(text) for each piece.
function per_image.write_streamed(path, produce)
  local temporary = path .. ".partial"
  local f, message = io.open(temporary, "wb")
  if not f then fail(("cannot write '%s': %s"):format(temporary, message)) end
  local ok, err = pcall(produce, function(text) assert(f:write(text)) end)
  f:close()
  if not ok then
    os.remove(temporary)
    error(err, 0)
  end
  local renamed, why = os.rename(temporary, path)
  if not renamed then fail(("cannot rename '%s' to '%s': %s"):format(temporary, path, why)) end
end

function per_image.write_whole(path, text)
  per_image.write_streamed(path, function(write) write(text) end)
end

local function csv_field(v)
  if v == nil then return "" end
  if type(v) == "table" then v = smia.json.encode(v) end
  if type(v) == "number" then v = smia.json.encode(v) end
  if v == "null" then return "" end
  if v:find('[,"\r\n]') then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end

-- The CSV's columns for the fields present in the rows (`add(row)` for each, then
-- `columns()`): known columns in order, extra fields after method.
local function csv_columns()
  local present, extra = {}, {}
  local c = {}
  function c.add(r)
    for k in pairs(r) do
      if not present[k] then
        present[k] = true
        if not known[k] then extra[#extra + 1] = k end
      end
    end
  end
  function c.columns()
    table.sort(extra)
    local columns = {"task", "method"}
    for _, k in ipairs(extra) do columns[#columns + 1] = k end
    for i = 3, #per_image.order do
      if present[per_image.order[i]] then columns[#columns + 1] = per_image.order[i] end
    end
    return columns
  end
  return c
end

local function csv_line(r, columns)
  local cells = {}
  for i, c in ipairs(columns) do cells[i] = csv_field(r[c]) end
  return table.concat(cells, ",") .. "\n"
end

-- The CSV of rows: known columns in order (extra fields after method), lists as JSON text.
function per_image.csv(rows)
  local c = csv_columns()
  for _, r in ipairs(rows) do c.add(r) end
  local columns = c.columns()
  local lines = {table.concat(columns, ",") .. "\n"}
  for _, r in ipairs(rows) do lines[#lines + 1] = csv_line(r, columns) end
  return table.concat(lines)
end

-- per_image.csv from a per_image.jsonl, streamed: one pass for the columns, one for the lines.
function per_image.csv_of_file(jsonl, csv)
  local c = csv_columns()
  per_image.each(jsonl, c.add)
  local columns = c.columns()
  per_image.write_streamed(csv, function(write)
    write(table.concat(columns, ",") .. "\n")
    per_image.each(jsonl, function(r) write(csv_line(r, columns)) end)
  end)
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
