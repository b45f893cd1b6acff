-- Which batches of an evaluation smia.eval computes, and what it keeps on disk between runs:
-- per_image.jsonl in the output folder (rows appended per finished batch), and the images kept
-- for pictures (examples/). It makes a run resumable (`resume`: batches whose rows are all in
-- the file are not computed again, a batch cut by a crash is computed again) and shardable
-- (`shard = {k, n}`: batches k+1, k+1+n, ... of every evaluation; whole batches, so that every
-- image sees the same batch as in one run and gives the same rows).
--
--   local plan = smia.per_image.plan{out = dir, resume = bool, shard = {k, n}, task = name,
--                                    fields = {...}, methods = {"clean", "fgsm", ...},
--                                    batches = count, batch_size = size, n = images,
--                                    read_only = bool}  -- (a shard's folder being merged)
--   plan:todo(b)                  whether batch b is computed here
--   plan:finish(b, rows)          appends batch b's rows and adds them to the summary
--   plan:summarize(options)       the summary rows of the batches done here (no row is kept in
--                                 memory: sums per batch, smia.per_image.summary)
--   plan:batch_rows(b)            batch b's rows read back from the file (read_only plans)
--   plan:complete()               whether every batch is done;  plan:write_csv()
--   plan:save_examples(ex) / plan:load_examples()
local smia = ...
local per_image = smia.per_image

local function fail(message) error("smia.eval: " .. message, 4) end

local Plan = {}
Plan.__index = Plan

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function quote(path) return "'" .. path:gsub("'", "'\\''") .. "'" end

function per_image.plan(o)
  local self = setmetatable({out = o.out, shard = o.shard, batches = o.batches, done = {}, ranges = {},
                             summary = per_image.summary()}, Plan)
  local fields = {task = o.task}
  for k, v in pairs(o.fields or {}) do fields[k] = v end
  self.key = per_image.group(fields) .. "\0" .. o.task
  self.expected = function(b) return (math.min(b * o.batch_size, o.n) - (b - 1) * o.batch_size) * #o.methods end
  if not self.out then return self end
  if not os.execute("mkdir -p " .. quote(self.out)) then fail(("cannot create the folder '%s'"):format(self.out)) end
  self.path = self.out .. "/per_image.jsonl"
  local mine_of = function(r) return per_image.group(r) .. "\0" .. r.task == self.key end
  -- One pass over the file, row by row: this evaluation's rows are counted per batch and summed
  -- (self.summary), and where each batch's lines are is noted (self.ranges, for a merge).
  local counts, changed = {}, false
  if exists(self.path) then
    per_image.each(self.path, function(r, line, offset)
      if not mine_of(r) then return end
      if not o.resume then
        changed = true
        return
      end
      local b = r.batch
      if math.type(b) ~= "integer" or b < 1 or b > o.batches or r.index < (b - 1) * o.batch_size + 1
        or r.index > math.min(b * o.batch_size, o.n) then
        fail(("'%s' holds rows of %s from a run with other settings (batch %s, image %s); resume in a new folder or without resume")
          :format(self.path, o.task, tostring(b), tostring(r.index)))
      end
      counts[b] = (counts[b] or 0) + 1
      self.summary:add(r)
      local ranges = self.ranges[b] or {}
      self.ranges[b] = ranges
      local last = ranges[#ranges]
      if last and last[2] == offset then last[2] = offset + #line else ranges[#ranges + 1] = {offset, offset + #line} end
    end)
  end
  for b, count in pairs(counts) do
    if count == self.expected(b) then
      self.done[b] = true
    else  -- a batch cut by a crash: computed again
      changed = true
      self.summary:drop(b)
      self.ranges[b] = nil
    end
  end
  -- A cut last line, or rows this run replaces: the file is rewritten without them.
  local f = io.open(self.path, "rb")
  if f then
    local size = f:seek("end")
    if size > 0 then
      f:seek("set", size - 1)
      changed = changed or f:read(1) ~= "\n"
    end
    f:close()
  end
  if changed and not o.read_only then
    per_image.write_streamed(self.path, function(write)
      per_image.each(self.path, function(r, line)
        if not mine_of(r) or self.done[r.batch] then write(line) end
      end)
    end)
    self.ranges = {}  -- (the lines moved; only a read-only plan's ranges are used)
  end
  if not o.resume and not o.read_only then  -- a new run: the pictures' images of an old one go
    os.remove(self:examples_path() .. ".json")
    os.remove(self:examples_path() .. ".safetensors")
  end
  return self
end

function Plan:todo(b)
  if self.done[b] then return false end
  return not self.shard or (b - 1) % self.shard[2] == self.shard[1]
end

-- Batch b's rows: appended to the file and added to the summary, not kept.
function Plan:finish(b, rows)
  self.done[b] = true
  for _, r in ipairs(rows) do self.summary:add(r) end
  if self.path then per_image.append(self.path, rows) end
end

-- Whether every batch of the evaluation is done (here, not counting other shards).
function Plan:complete()
  for b = 1, self.batches do
    if not self.done[b] then return false end
  end
  return true
end

-- per_image.csv from per_image.jsonl, streamed.
function Plan:write_csv()
  if self.path then per_image.csv_of_file(self.path, self.out .. "/per_image.csv") end
end

-- The summary rows of every batch done here (smia.per_image.summarize's).
function Plan:summarize(options)
  return self.summary:result(options)
end

-- The rows of done batch b, read back from the file (a read-only plan: a shard being merged).
function Plan:batch_rows(b)
  local f, message = io.open(self.path, "rb")
  if not f then fail(("cannot read '%s': %s"):format(self.path, message)) end
  local rows = {}
  for _, range in ipairs(self.ranges[b] or {}) do
    f:seek("set", range[1])
    for line in f:read(range[2] - range[1]):gmatch("[^\n]+") do rows[#rows + 1] = smia.json.decode(line) end
  end
  f:close()
  return rows
end

-- Examples: the tensors in one safetensors file, box lists and names in a JSON file beside it.
function Plan:examples_path()
  local name = self.key:gsub("[^%w]+", "_")
  return self.out .. "/examples/" .. name
end

function Plan:save_examples(ex)
  if not self.out or not ex.x then return end
  os.execute("mkdir -p " .. quote(self.out .. "/examples"))
  local tensors, other = {x = ex.x}, {methods = {}}
  local function put(name, v)
    if smia.is_tensor(v) then tensors[name] = v else other[name] = v end
  end
  put("y", ex.y)
  put("predictions", ex.predictions)
  for i, m in ipairs(ex.methods) do
    other.methods[i] = m.name
    tensors["x_adv_" .. i] = m.x_adv
    put("predictions_" .. i, m.predictions)
  end
  local base = self:examples_path()
  per_image.write_whole(base .. ".json", smia.json.encode(other))
  smia.io.save(base .. ".safetensors", tensors)
end

-- The examples saved by the run that computed batch 1 (here, or in `dir`), or nil.
function Plan:load_examples(dir)
  local base = self:examples_path()
  if dir then base = dir .. base:sub(#self.out + 1) end
  if not exists(base .. ".json") or not exists(base .. ".safetensors") then return nil end
  local f = assert(io.open(base .. ".json", "rb"))
  local other = smia.json.decode(f:read("a"))
  f:close()
  local tensors = smia.io.load(base .. ".safetensors")
  local function get(name) return tensors[name] or other[name] end
  local ex = {x = tensors.x, y = get("y"), predictions = get("predictions"), methods = {}}
  for i, name in ipairs(other.methods) do
    ex.methods[i] = {name = name, x_adv = tensors["x_adv_" .. i], predictions = get("predictions_" .. i)}
  end
  return ex
end
