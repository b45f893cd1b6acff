-- Research-scale runs of the main job (scripts/smia.lua): which shard this process runs, the
-- run's record (metadata), and the merge of shard folders into one result.
--
--   local runs = dofile(here .. "/lib/runs.lua")
--   local args, merge_dirs = runs.split_merge(arg)   -- takes `--merge DIR...` out of the arguments
--   local shard = runs.shard(o)                      -- {k, n} or nil
--   local eval = runs.evaluator(o, shard, merge_dirs) -- smia.eval, or its rows merged from folders
--   runs.metadata(o, shard, started_at)              -- name -> text, for smia.report.write's `run`
--   runs.whole_run(o, shard, merge_dirs, compute)    -- work done once per run (shard 0), or nil
local runs = {}

-- `--merge DIR DIR ...` (the words up to the next option) out of the arguments.
function runs.split_merge(args)
  local rest, dirs, i = {}, nil, 1
  while i <= #args do
    if args[i] == "--merge" then
      dirs = dirs or {}
      i = i + 1
      while args[i] and not args[i]:match("^%-%-") do
        dirs[#dirs + 1] = args[i]
        i = i + 1
      end
    else
      rest[#rest + 1] = args[i]
      i = i + 1
    end
  end
  return rest, dirs
end

-- The shard {k, n} of this process: --shard K/N; else a Slurm array task
-- (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT, ids from 0); else a Kubernetes indexed Job
-- (JOB_COMPLETION_INDEX, with --shards N); else nil (everything).
function runs.shard(o)
  local k, n
  if o.shard then
    k, n = o.shard:match("^(%d+)/(%d+)$")
    if not k then o.fail(("--shard must be K/N (K from 0), got '%s'"):format(o.shard)) end
  elseif os.getenv("SLURM_ARRAY_TASK_ID") and os.getenv("SLURM_ARRAY_TASK_COUNT") then
    k, n = os.getenv("SLURM_ARRAY_TASK_ID"), os.getenv("SLURM_ARRAY_TASK_COUNT")
    k = math.tointeger(tonumber(k)) - (math.tointeger(tonumber(os.getenv("SLURM_ARRAY_TASK_MIN") or "0")) or 0)
  elseif os.getenv("JOB_COMPLETION_INDEX") and o.shards then
    k, n = os.getenv("JOB_COMPLETION_INDEX"), o.shards
  elseif o.shards then
    o.fail("--shards N needs JOB_COMPLETION_INDEX (a Kubernetes indexed Job); elsewhere give --shard K/N")
  else
    return nil
  end
  k, n = math.tointeger(tonumber(k)), math.tointeger(tonumber(n))
  if not k or not n or n < 1 or k < 0 or k >= n then
    o.fail(("the shard must be K/N with 0 <= K < N, got %s/%s"):format(tostring(k), tostring(n)))
  end
  return {k, n}
end

local function command_output(command)
  local pipe = io.popen(command .. " 2>/dev/null")
  if not pipe then return nil end
  local text = pipe:read("a")
  pipe:close()
  text = text and text:gsub("%s+$", "")
  return text ~= "" and text or nil
end

local function quote(word)
  if word:match("^[%w%./_,:=+-]+$") then return word end
  return "'" .. word:gsub("'", "'\\''") .. "'"
end

-- The run's record: version, command line, settings, shard, machine, and start and end times
-- (UTC). `attacks` is a list of attack objects whose options are shown as the engine read them.
function runs.metadata(o, shard, started_at, attacks)
  local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
  local words = {quote(arg[-1] or "smia-lua"), quote(arg[0] or "scripts/smia.lua")}
  for _, a in ipairs(arg) do words[#words + 1] = quote(a) end
  local system = smia.system()
  local seen, described = {}, {}
  for _, a in ipairs(attacks or {}) do
    local text = tostring(a)
    if not seen[text] then
      seen[text] = true
      described[#described + 1] = text
    end
  end
  return {
    version = command_output(("git -C %s describe --always --dirty --tags"):format(quote(here))) or "unknown",
    command = table.concat(words, " "),
    seed = "1 (PGD's random start; every other attack is deterministic)",
    n = o.all_images and "all held-out images" or tostring(o.n),
    batch_size = tostring(o.batch_size),
    shard = shard and ("%d/%d"):format(shard[1], shard[2]) or "none",
    attacks = table.concat(described, "; "),
    threads = tostring(system.threads),
    kernels = ("%s (%s)"):format(system.kernel, system.blas),
    started = os.date("!%Y-%m-%dT%H:%M:%SZ", started_at),
    ended = os.date("!%Y-%m-%dT%H:%M:%SZ"),
  }
end

-- A shard's folder must hold its per_image.jsonl.
local function check_folder(dir)
  local f = io.open(dir .. "/per_image.jsonl", "rb")
  if not f then error(("--merge: %s has no per_image.jsonl (is it the --out of a shard?)"):format(dir), 0) end
  f:close()
end

-- The shards' saved adversarial images of `task` (DIR/adversarial/<task>/...) into the merged
-- folder `save`: hard links where the file system allows, else copies.
local function gather_adversarial(merge_dirs, out, save, task)
  local dest = save .. "/" .. task
  for _, dir in ipairs(merge_dirs) do
    local from = dir .. save:sub(#out + 1) .. "/" .. task
    local command = ("if [ -d %s ]; then mkdir -p %s && { cp -Rl %s/. %s/ 2>/dev/null || cp -R %s/. %s/; }; fi")
      :format(quote(from), quote(dest), quote(from), quote(dest), quote(from), quote(dest))
    if not os.execute(command) then error(("--merge: cannot gather the adversarial images of %s into %s"):format(from, dest), 0) end
  end
end

-- smia.eval, or with merge_dirs its result rebuilt from the shards' rows: the batches of each
-- evaluation gathered from the folders (each exactly once), appended in order to --out's
-- per_image.jsonl and summarized as they go (one batch's rows in memory at a time); the
-- pictures' images from the folder that ran the first batch.
function runs.evaluator(o, shard, merge_dirs)
  if not merge_dirs then
    return function(options)
      options.out, options.resume, options.shard, options.progress = o.out, o.resume, shard, not o.quiet
      return smia.eval(options)
    end
  end
  if #merge_dirs == 0 then o.fail("--merge needs the output folders of the shards") end
  os.remove(o.out .. "/per_image.jsonl")
  return function(options)
    local n = math.min(options.n, options.data:size())
    local bs = options.batch_size
    local batches = (n + bs - 1) // bs
    local methods = {"clean"}
    for i, entry in ipairs(options.attacks) do methods[i + 1] = entry[1] end
    local task = options.task
    local spec = {task = task, fields = options.fields, methods = methods, batches = batches, batch_size = bs, n = n}
    local merged = smia.per_image.plan(setmetatable({out = o.out}, {__index = spec}))
    local found, examples = {}, nil
    for _, dir in ipairs(merge_dirs) do
      check_folder(dir)
      local part = smia.per_image.plan(setmetatable({out = dir, resume = true, read_only = true}, {__index = spec}))
      for b = 1, batches do
        if part.done[b] then
          if found[b] then
            error(("--merge: batch %d of %s is in both %s and %s"):format(b, task, found[b].dir, dir), 0)
          end
          found[b] = {dir = dir, part = part}
        end
      end
      if not examples and (options.keep or 0) > 0 and part.done[1] then examples = part:load_examples() end
    end
    local missing = {}
    for b = 1, batches do
      if not found[b] then missing[#missing + 1] = b end
    end
    if #missing > 0 then
      error(("--merge: batches %s of %s (of %d) are in none of the folders; a shard did not finish"):format(
        table.concat(missing, ", "), task, batches), 0)
    end
    for b = 1, batches do merged:finish(b, found[b].part:batch_rows(b)) end
    if options.save then gather_adversarial(merge_dirs, o.out, options.save, task) end
    merged:write_csv()
    local rows = merged:summarize{fpr = options.fpr, classes = options.classes}
    rows.examples = examples or {methods = {}}
    rows.complete = true
    if examples then merged:save_examples(examples) end
    return rows
  end
end

-- Work that covers the whole run rather than a part of the images (the variants table and
-- the paper's sweeps) is done once: by an unsharded run, or by shard 0 alongside the other
-- shards' batches, which keeps it in OUT/whole_run.json; the merge takes it from there, and
-- shards 1...N-1 skip it (nil). `compute()` returns a table of rows and texts (JSON values).
-- A resumed shard 0 keeps the whole_run.json it already wrote.
local whole_run_file = "whole_run.json"

local function read_json(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local ok, value = pcall(smia.json.decode, text)
  if not ok or type(value) ~= "table" then error(("%s is not the JSON a shard 0 writes: %s"):format(path, tostring(value)), 0) end
  return value
end

function runs.whole_run(o, shard, merge_dirs, compute)
  if merge_dirs then
    for _, dir in ipairs(merge_dirs) do
      local value = read_json(dir .. "/" .. whole_run_file)
      if value then return value end
    end
    error(("--merge: none of the folders holds %s, the variants table and sweeps shard 0 computes; "
      .. "did shard 0 finish? (resume it with --resume)"):format(whole_run_file), 0)
  end
  if not shard then return compute() end
  if shard[1] ~= 0 then return nil end
  local path = o.out .. "/" .. whole_run_file
  local value = o.resume and read_json(path)
  if value then return value end
  value = compute()
  -- Cut short by SIGINT or SIGTERM: not kept, a resumed shard 0 computes it again.
  if not smia.stop_requested() then smia.per_image.write_whole(path, smia.json.encode(value)) end
  return value
end

return runs
