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
--   plan:finish(b, rows)          appends batch b's rows (and keeps them)
--   plan:rows()                   every row of this evaluation here, in batch order
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
  local self = setmetatable({out = o.out, shard = o.shard, batches = o.batches, done = {}, order = {}}, Plan)
  local fields = {task = o.task}
  for k, v in pairs(o.fields or {}) do fields[k] = v end
  self.key = per_image.group(fields) .. "\0" .. o.task
  self.expected = function(b) return (math.min(b * o.batch_size, o.n) - (b - 1) * o.batch_size) * #o.methods end
  if not self.out then return self end
  if not os.execute("mkdir -p " .. quote(self.out)) then fail(("cannot create the folder '%s'"):format(self.out)) end
  self.path = self.out .. "/per_image.jsonl"
  local mine_of = function(r) return per_image.group(r) .. "\0" .. r.task == self.key end
  local rows = exists(self.path) and per_image.read(self.path) or {}
  local kept, by_batch, changed = {}, {}, false
  for _, r in ipairs(rows) do
    if mine_of(r) then
      if not o.resume then
        changed = true
      else
        local b = r.batch
        if math.type(b) ~= "integer" or b < 1 or b > o.batches or r.index < (b - 1) * o.batch_size + 1
          or r.index > math.min(b * o.batch_size, o.n) then
          fail(("'%s' holds rows of %s from a run with other settings (batch %s, image %s); resume in a new folder or without resume")
            :format(self.path, o.task, tostring(b), tostring(r.index)))
        end
        by_batch[b] = by_batch[b] or {}
        table.insert(by_batch[b], r)
      end
    end
  end
  for b, list in pairs(by_batch) do
    if #list == self.expected(b) then self.done[b] = list else changed = true end
  end
  for _, r in ipairs(rows) do
    if not mine_of(r) or self.done[r.batch] then kept[#kept + 1] = r end
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
  if changed and not o.read_only then per_image.write(self.out, kept) end
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

function Plan:finish(b, rows)
  self.done[b] = rows
  if self.path then per_image.append(self.path, rows) end
end

-- Whether every batch of the evaluation is done (here, not counting other shards).
function Plan:complete()
  for b = 1, self.batches do
    if not self.done[b] then return false end
  end
  return true
end

-- per_image.csv from per_image.jsonl, whole.
function Plan:write_csv()
  if self.path then per_image.write_whole(self.out .. "/per_image.csv", per_image.csv(per_image.read(self.path))) end
end

function Plan:rows()
  local out = {}
  for b = 1, self.batches do
    for _, r in ipairs(self.done[b] or {}) do out[#out + 1] = r end
  end
  return out
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
