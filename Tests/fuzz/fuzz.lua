-- The fuzz harness: malformed files through every file reader, and random calls through every
-- smia.* function and every method of the engine's objects. Nothing it does may crash the
-- host, hang it, or make it allocate past its memory budget; bad input must only ever be a
-- Lua error.
--
--   smia-lua Tests/fuzz/fuzz.lua [--mutants N] [--calls N] [--seed S] [--batch B] [--cap KIB]
--                                [--limit SECONDS] [--keep 1]
--
-- `make test` runs a few hundred cases, `make fuzz` thousands. The cases come from fixed seeds:
-- case K of a run with seed S is the same on every machine, so a finding can be replayed.
-- A mutant is one file of the seed corpus (Tests/Data/io, DICOM files of Tests/Data/dicom, and
-- files the engine writes: PNG, safetensors, CSV lists) with one to four random edits (bits, bytes, sizes in headers,
-- truncation, insertion, repetition, numbers in text), read by every reader of its kind. A
-- call case picks one function or method and calls it up to 8 times: each time with the
-- arguments the last error asked for (its type, a known option name), so the calls get past
-- the type checks to the sizes and values behind them.
-- Cases run in child hosts, B at a time, each child under an address-space cap (ulimit -v,
-- 4 GiB by default, so an allocation the budget misses ends the child instead of the
-- machine), in a scratch folder. A child writes each case to its log before running it, so
-- when a child dies, the last case it started is the culprit. Findings:
--   crash   the child died (a signal, an abort, an exit status other than 0);
--   hang    the child did not finish its batch in time and did not stop on Ctrl-C (SIGINT,
--           which the host turns into a Lua error); a case that stops on Ctrl-C is a long
--           computation, reported as "slow" but not a finding;
--   memory  the resident size passed half the cap after a case.
-- The harness then resumes after the culprit. It prints each finding with the case's
-- description and exits with status 1 if there is any.
local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
local root = here .. "/../../"

local function shell_quote(s) return "'" .. tostring(s):gsub("'", [['\'']]) .. "'" end

--- The interpreter running this script (the most negative index of `arg`).
local function host()
  local lowest = 0
  while arg[lowest - 1] ~= nil do lowest = lowest - 1 end
  return lowest < 0 and arg[lowest] or root .. ".build/release/smia-lua"
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write_file(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

-- ---------------------------------------------------------------------------------------------
-- The seed corpus: the project's small reference files, plus files written by the engine.

local CORPUS = {
  -- {file name in the corpus, reader kind}
  {"f4_2x3.npy", "array"}, {"f8_be_3x2.npy", "array"}, {"i2_fortran_2x3x4.npy", "array"},
  {"u1_5.npy", "array"}, {"scalar.npy", "array"}, {"empty_0x3.npy", "array"},
  {"f4_plain.nii.gz", "array"}, {"i2_scaled_le.nii", "array"}, {"u1_2d.nii.gz", "array"},
  {"f64.idx.gz", "array"}, {"mini-images-idx3-ubyte.gz", "array"}, {"mini-labels-idx1-ubyte", "array"},
  {"medmnist_like.npz", "npz"}, {"stored.npz", "load"},
  {"small.safetensors", "load"}, {"weights.safetensors", "weights"},
  {"gray.png", "png"}, {"rgb.png", "png"}, {"mask.png", "mask"},
  {"labels.csv", "csv"}, {"boxes.csv", "boxes"},
  -- DICOM: uncompressed, deflated, RLE, JPEG baseline, JPEG-LS and JPEG 2000 pixel data.
  {"CT_small.dcm", "dicom", "dicom"}, {"MR_small_bigendian.dcm", "dicom", "dicom"}, {"image_dfl.dcm", "dicom", "dicom"},
  {"MR_small_RLE.dcm", "dicom", "dicom"}, {"SC_rgb_rle_2frame.dcm", "dicom", "dicom"}, {"SC_rgb_jpeg_gdcm.dcm", "dicom", "dicom"},
  {"MR_small_jpeg_ls_lossless.dcm", "dicom", "dicom"}, {"MR_small_jp2klossless.dcm", "dicom", "dicom"},
}

local function make_corpus(dir)
  os.execute("mkdir -p " .. shell_quote(dir))
  for _, entry in ipairs(CORPUS) do
    local bytes = read_file(root .. "Tests/Data/" .. (entry[3] or "io") .. "/" .. entry[1])
    if bytes then write_file(dir .. "/" .. entry[1], bytes) end
  end
  local T = smia.tensor
  smia.io.save(dir .. "/small.safetensors", {a = T.rand({2, 3}, 1), b = T.arange(4)}, {note = "fuzz"})
  smia.nn.Sequential{smia.nn.Conv2d{1, 2, 3}, smia.nn.BatchNorm2d{2}}:save_weights(dir .. "/weights.safetensors")
  smia.image.write(dir .. "/gray.png", T.rand({1, 6, 5}, 2))
  smia.image.write(dir .. "/rgb.png", T.rand({3, 4, 4}, 3))
  smia.image.write(dir .. "/mask.png", T.from{{{0, 1, 1, 0, 2}, {0, 0, 1, 1, 2}, {2, 2, 0, 0, 1}}} / 255)
  write_file(dir .. "/labels.csv", "file,label\ngray.png,1\nrgb.png,0\n")
  write_file(dir .. "/boxes.csv", "file,x1,y1,x2,y2,class\ngray.png,0,0,3,4,1\nrgb.png,1,1,2,2,0\nrgb.png\n")
end

-- ---------------------------------------------------------------------------------------------
-- Mutants: one seed file, a few random edits, then the readers of its kind.

local INTERESTING = {0, 1, 0x7F, 0x80, 0xFF, 0xFE, 0x20, 0x30, 0x39}
local WIDE = {0, 1, -1, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 40, math.maxinteger}
local NUMBERS = {"0", "-1", "2147483648", "99999999999", "1e309", "nan", "-0", "4294967296", "65536", "1e-45", "x"}

local function mutate(bytes, random)
  local edits = random(1, 4)
  for _ = 1, edits do
    local n = #bytes
    -- Headers hold the sizes: edits land in the first 512 bytes three times out of four.
    local function position() return n == 0 and 1 or (random(4) > 1 and random(math.min(n, 512)) or random(n)) end
    local kind = random(8)
    if kind == 1 and n > 0 then            -- flip one bit
      local p = position()
      bytes = bytes:sub(1, p - 1) .. string.char(bytes:byte(p) ~ (1 << random(0, 7))) .. bytes:sub(p + 1)
    elseif kind == 2 and n > 0 then        -- one interesting byte
      local p = position()
      bytes = bytes:sub(1, p - 1) .. string.char(INTERESTING[random(#INTERESTING)]) .. bytes:sub(p + 1)
    elseif kind == 3 and n > 0 then        -- an interesting 2-, 4- or 8-byte integer
      local width = ({2, 4, 8})[random(3)]
      local p = position()
      local v = WIDE[random(#WIDE)]
      local packed = string.pack((random(2) == 1 and "<" or ">") .. "i" .. width, v & ((1 << (8 * width - 1)) - 1) | (v < 0 and (-1 << (8 * width - 1)) or 0))
      bytes = bytes:sub(1, p - 1) .. packed .. bytes:sub(p + width)
    elseif kind == 4 then                  -- truncate
      bytes = bytes:sub(1, random(0, n))
    elseif kind == 5 then                  -- append or insert random bytes
      local extra = {}
      for k = 1, random(1, 64) do extra[k] = string.char(random(0, 255)) end
      local p = position()
      bytes = bytes:sub(1, p - 1) .. table.concat(extra) .. bytes:sub(p)
    elseif kind == 6 and n > 1 then        -- repeat a chunk
      local a = random(n)
      local b = math.min(n, a + random(0, 64))
      bytes = bytes:sub(1, b) .. bytes:sub(a, b):rep(random(1, 8)) .. bytes:sub(b + 1)
    elseif kind == 7 and n > 1 then        -- delete a chunk
      local a = random(n)
      bytes = bytes:sub(1, a - 1) .. bytes:sub(math.min(n + 1, a + random(1, 64)))
    else                                   -- a number in a text header (npy, csv) replaced
      local starts = {}
      for s in bytes:sub(1, 512):gmatch("()%d+") do starts[#starts + 1] = s end
      if #starts > 0 then
        local s = starts[random(#starts)]
        local e = bytes:find("%D", s) or (n + 1)
        bytes = bytes:sub(1, s - 1) .. NUMBERS[random(#NUMBERS)] .. bytes:sub(e)
      end
    end
  end
  return bytes
end

--- Gzips `bytes` with the system's gzip into `path`.
local function gzip_to(path, bytes)
  local pipe = assert(io.popen("gzip -1 -n > " .. shell_quote(path), "w"))
  pipe:write(bytes)
  pipe:close()
end

local function gunzip(path)
  local pipe = io.popen("gzip -dc " .. shell_quote(path) .. " 2>/dev/null")
  local bytes = pipe and pipe:read("a")
  if pipe then pipe:close() end
  return bytes
end

local READERS = {
  array = function(p) return smia.io.read_array(p) end,
  npz = function(p) return smia.io.load(p), smia.data.npz{path = p} end,
  load = function(p) return smia.io.load(p) end,
  weights = function(p)
    smia.io.load(p)
    return smia.nn.Sequential{smia.nn.Conv2d{1, 2, 3}, smia.nn.BatchNorm2d{2}}:load_weights(p)
  end,
  png = function(p) return smia.image.read(p), smia.data.folder{root = p:match("^(.*)/[^/]*/[^/]*$")} end,
  mask = function(p) return smia.image.read(p), smia.data.masks{images = p:match("^(.*)/"), masks = p:match("^(.*)/")} end,
  csv = function(p) local ds = smia.data.csv{path = p}; return ds:get(1) end,
  boxes = function(p) local ds = smia.data.boxes{path = p}; return ds:get(1) end,
  dicom = function(p) return smia.io.read_array(p), smia.image.read(p) end,
}

--- Case `k` of the mutants: a description, and the function that runs it.
local function mutant_case(k, seed, corpus, scratch)
  math.randomseed(seed, k)
  local random = math.random
  local entry = CORPUS[random(#CORPUS)]
  local name, kind = entry[1], entry[2]
  local original = read_file(corpus .. "/" .. name)
  if not original then
    return ("mutant %d: %s"):format(k, name), function() error("the seed file " .. name .. " is missing") end
  end
  -- One folder per child (made once), emptied after each case: no process per case.
  local dir = scratch .. "/class0"
  local path = dir .. "/" .. name
  local gz = name:match("%.gz$")
  -- A gzipped seed is mutated after decompression half of the time, to reach the readers
  -- behind the gzip checksum.
  if gz and random(2) == 1 then
    gzip_to(path, mutate(gunzip(corpus .. "/" .. name) or "", random))
  else
    write_file(path, mutate(original, random))
  end
  local made = {path}
  if kind == "csv" or kind == "boxes" then  -- the images the lists name
    for _, image in ipairs{"gray.png", "rgb.png"} do
      write_file(dir .. "/" .. image, read_file(corpus .. "/" .. image))
      made[#made + 1] = dir .. "/" .. image
    end
  end
  return ("mutant %d: %s read as %s (%s)"):format(k, name, kind, path), function()
    local results = table.pack(READERS[kind](path))
    for i = 1, results.n do  -- touch what came back
      local r = results[i]
      if smia.tensor.is_tensor(r) then r:sum() elseif type(r) == "table" then for _, v in pairs(r) do if smia.tensor.is_tensor(v) then v:sum() end end end
    end
  end, function() for _, file in ipairs(made) do os.remove(file) end end
end

-- ---------------------------------------------------------------------------------------------
-- Random calls: every function under smia, every method of every object type, random arguments.

local KEYS = {"n", "split", "seed", "size", "eps", "step", "steps", "alpha", "kernel_size", "sigma", "norm",
  "random_start", "loss", "path", "root", "channels", "classes", "num_classes", "in_channels", "width", "depth",
  "mean", "std", "lr", "epochs", "batch", "batch_size", "shuffle", "decay", "momentum", "weight_decay", "padding",
  "stride", "dilation", "groups", "bias", "reduction", "targeted", "target", "record", "restarts", "overshoot",
  "gamma", "threshold", "kernel", "scale", "mode", "dim", "keepdim", "out", "name", "task", "model", "data",
  "attacks", "x", "y", "images", "masks", "labels", "drop_last", "hard_target", "detach_target", "smooth",
  "projection", "step_rule", "on_step", "c", "kappa", "search_steps", "iou", "nms", "max_boxes", "count"}

--- Functions to call: {name, function}, sorted by name so the order is the same everywhere.
local function functions_under(t, prefix, out, seen, depth)
  if depth > 3 or seen[t] then return out end
  seen[t] = true
  for k, v in pairs(t) do
    if type(k) == "string" then
      if type(v) == "function" then out[#out + 1] = {prefix .. k, v}
      elseif type(v) == "table" then functions_under(v, prefix .. k .. ".", out, seen, depth + 1) end
    end
  end
  return out
end

--- Methods of the engine's object types: {type.method, function}, from the named metatables.
local function methods()
  local out = {}
  for name, mt in pairs(debug.getregistry()) do
    if type(name) == "string" and name:match("^smia%.") and type(mt) == "table" then
      for k, v in pairs(mt) do
        if type(k) == "string" and type(v) == "function" then out[#out + 1] = {name .. ":" .. k, v} end
      end
      -- The method table: `methods`, or the table behind a function `__index` (its first upvalue).
      local list = mt.methods
      if type(list) ~= "table" and type(mt.__index) == "function" then list = select(2, debug.getupvalue(mt.__index, 1)) end
      if type(list) ~= "table" then list = mt.__index end
      if type(list) == "table" then
        for k, v in pairs(list) do
          if type(k) == "string" and type(v) == "function" then out[#out + 1] = {name .. "." .. k, v} end
        end
      end
    end
  end
  return out
end

local function by_name(list)
  table.sort(list, function(a, b) return a[1] < b[1] end)
  return list
end

--- Objects of each kind, for receivers and arguments: pool[kind] is a list.
local function object_pool(corpus)
  local T, nn = smia.tensor, smia.nn
  local pool = {
    tensor = {T.rand({2, 3}, 1), T.rand({1, 1, 8, 8}, 2), T.rand({2, 3, 8, 8}, 3), T.zeros{0}, T.from{0, 1},
      T.from{1}, T.full({3}, 0 / 0), T.arange(6), T.zeros{0, 3}, T.ones{4, 1, 1, 1}, T.from{{0, 1}, {1, 0}},
      T.rand({2, 1, 28, 28}, 4), T.zeros{2, 8, 8}, T.zeros{}, T.zeros{0, 1, 8, 8}, T.rand({1, 3, 1, 1}, 5),
      T.full({1, 1, 4, 4}, 1 / 0)},
    module = {nn.Linear{3, 2}, nn.Conv2d{1, 2, 3}, nn.Sequential{nn.Flatten(), nn.Linear{64, 3}}, nn.ReLU(),
      smia.models.simple_cnn{in_channels = 1, num_classes = 3, width = 4, depth = 1}},
    attack = {smia.attack.pgd{steps = 2}, smia.attack.fgsm{}},
    number = {0, 1, -1, 2, 3, 0.5, -0.5, 1e9, 2 ^ 31, 2 ^ 53, math.maxinteger, math.mininteger, 0 / 0, 1 / 0, -1 / 0,
      4, 8, 16, 2 ^ 40, -2 ^ 31, 1e-30, 255, 65536},
    string = {"", "x", "linf", "l2", "mean", "sum", "none", "train", "test", "nearest", string.rep("a", 300), "../x", "/",
      corpus .. "/gray.png", corpus .. "/labels.csv", corpus .. "/boxes.csv", corpus .. "/small.safetensors",
      corpus .. "/f4_2x3.npy", corpus .. "/medmnist_like.npz", corpus, "out.safetensors", "out.png"},
    boolean = {true, false},
  }
  local function add(kind, ok, value) if ok then pool[kind] = pool[kind] or {}; table.insert(pool[kind], value) end end
  add("dataset", pcall(smia.data.fundus, {n = 2}))
  add("optimizer", pcall(smia.optim.sgd, {params = nn.Linear{3, 2}:parameters(), lr = 0.1}))
  add("schedule", pcall(smia.optim.schedule.cosine, {lr = 0.1, steps = 10}))
  add("module", pcall(smia.models.detector, {in_channels = 1, num_classes = 2, width = 4}))
  pool["function"] = {
    function(x) return x end,
    function() return pool.tensor[1] end,
    function() error("from a callback") end,
    function(ctx) return type(ctx) == "table" and ctx.output and smia.nn.cross_entropy(ctx.output, ctx.y) or nil end,
    function() local f; f = function(n) return f(n + 1) + 1 end; return f(1) end,
    function(x) return smia.tensor.is_tensor(x) and x * 2 or x end,
  }
  return pool
end

local KINDS = {"number", "number", "number", "string", "boolean", "tensor", "tensor", "tensor", "module", "attack",
  "dataset", "optimizer", "schedule", "function", "options", "list", "nil"}

local function value_of(kind, random, pool, depth)
  if kind == "nil" then return nil end
  if kind == "options" or kind == "list" then
    local t = {}
    if depth < 2 then
      if kind == "list" then
        for i = 1, random(0, 4) do t[i] = random(2) == 1 and value_of("number", random, pool, depth + 1) or value_of(KINDS[random(#KINDS)], random, pool, depth + 1) end
      else
        for _ = 1, random(0, 3) do t[KEYS[random(#KEYS)]] = value_of(KINDS[random(#KINDS)], random, pool, depth + 1) end
        if random(3) == 1 then t[1] = value_of("number", random, pool, depth + 1) end
      end
    end
    return t
  end
  local list = pool[kind] or pool.number
  return list[random(#list)]
end

--- The kind of value an error message asks for ("tensor expected", "table of options
--- expected", ...), or nil.
local function kind_in(words)
  for _, pair in ipairs{{"table of options", "options"}, {"tensor", "tensor"}, {"module", "module"},
      {"attack", "attack"}, {"dataset", "dataset"}, {"optimizer", "optimizer"}, {"schedule", "schedule"},
      {"function", "function"}, {"boolean", "boolean"}, {"string", "string"}, {"integer", "number"},
      {"number", "number"}, {"list", "list"}, {"table", "list"}} do
    if words:find(pair[1], 1, true) then return pair[2] end
  end
end

--- Changes the arguments as an error message asks (the type or the option it names); false
--- when the message says nothing usable.
local function refine(args, method, message, random, pool)
  local self_words = message:match("on bad self %((.-) expected")
  if self_words and kind_in(self_words) then
    args[1] = value_of(kind_in(self_words), random, pool, 0)
    args.n = math.max(args.n, 1)
    return true
  end
  local index, rest = message:match("bad argument #(%d+) to '[^']*' %((.*)$")
  if not index then return false end
  local position = tonumber(index) + (method and 1 or 0)
  args.n = math.max(args.n, position)
  local options = type(args[position]) == "table" and args[position] or nil
  local key, words = rest:match("^option '([^']*)': (.-) expected")
  if key and options then
    options[key] = value_of(kind_in(words) or "number", random, pool, 1)
    return true
  end
  local unknown, known = rest:match("^unknown option '([^']*)' %(expected ([^)]*)%)")
  if unknown and options then
    options[unknown] = nil
    local names = {}
    for name in known:gmatch("[%a_][%w_]*") do if name ~= "or" then names[#names + 1] = name end end
    for _ = 1, random(1, 3) do
      if #names > 0 then options[names[random(#names)]] = value_of(KINDS[random(#KINDS)], random, pool, 1) end
    end
    return true
  end
  local required = rest:match("option '([^']*)' is required")
  if required and options then
    options[required] = value_of(KINDS[random(#KINDS)], random, pool, 1)
    return true
  end
  local wanted = rest:match("^(.-) expected")
  if wanted and kind_in(wanted) then
    args[position] = value_of(kind_in(wanted), random, pool, 0)
    return true
  end
  -- A value of the right type but refused (out of range...): another of the same type.
  local current = args[position]
  local kind = type(current) == "number" and "number" or type(current) == "string" and "string" or nil
  if kind then args[position] = value_of(kind, random, pool, 0); return true end
  if options and next(options) then
    local keys = {}
    for k in pairs(options) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    local k = keys[random(#keys)]
    options[math.tointeger(tonumber(k)) or k] = value_of(KINDS[random(#KINDS)], random, pool, 1)
    return true
  end
  return false
end

local function describe(args)
  local shown = {}
  for i = 1, args.n do
    local v = args[i]
    if type(v) == "string" then shown[i] = ("%q"):format(#v > 24 and v:sub(1, 24) .. "..." or v)
    elseif type(v) == "table" then
      local parts = {}
      for k, x in pairs(v) do parts[#parts + 1] = tostring(k) .. "=" .. (type(x) == "number" and tostring(x) or type(x)) end
      table.sort(parts)
      shown[i] = "{" .. table.concat(parts, ", ") .. "}"
    elseif type(v) == "number" or type(v) == "boolean" or v == nil then shown[i] = tostring(v)
    else shown[i] = smia.tensor.is_tensor(v) and "tensor " .. table.concat(v:shape(), "x") or type(v) end
  end
  return table.concat(shown, ", ")
end

--- Case `k` of the calls: one function or method, called up to `attempts` times, each time with
--- the arguments its last error asked for (a type, an option name), so calls get past the
--- argument checks to the sizes and values behind them. Calls `log_call(text)` before each.
local function call_case(k, seed, targets, pool, attempts, log_call)
  math.randomseed(seed, k)
  local random = math.random
  local target = targets[random(#targets)]
  local method = target[1]:match("^smia%.%u") ~= nil and not target[1]:find(":__", 1, true)
  local args = {n = random(0, 3)}
  for i = 1, args.n do args[i] = value_of(KINDS[random(#KINDS)], random, pool, 0) end
  if method and random(4) > 1 then
    local kind = target[1]:match("^smia%.(%u%l+)"):lower()
    args[1] = value_of(pool[kind] and kind or "tensor", random, pool, 0)
    args.n = math.max(args.n, 1)
  end
  local made = 0
  for _ = 1, attempts do
    made = made + 1
    log_call(("%s(%s)"):format(target[1], describe(args)))
    local ok, err = pcall(target[2], table.unpack(args, 1, args.n))
    if ok then return made, true end
    err = tostring(err)
    if err:find("interrupted!", 1, true) then error(err, 0) end
    if not refine(args, method, err, random, pool) then return made, false, err end
  end
  return made, false
end

-- ---------------------------------------------------------------------------------------------
-- A child: runs cases FIRST..LAST, logging each before it runs.

local function run_child(kind, first, last, seed, work, log_path)
  local log = assert(io.open(log_path, "a"))
  local corpus, scratch = work .. "/corpus", work .. "/scratch-" .. kind .. "-" .. first
  os.execute("mkdir -p " .. shell_quote(scratch .. "/class0"))
  local targets, pool
  if kind == "calls" then
    targets = by_name(functions_under(smia, "smia.", {}, {}, 1))
    for _, m in ipairs(by_name(methods())) do targets[#targets + 1] = m end
    pool = object_pool(corpus)
  end
  local cap = tonumber(os.getenv("SMIA_FUZZ_CAP_BYTES") or "") or math.huge
  for k = first, last do
    local function log_start(description)
      log:write("start ", k, " ", description, "\n")
      log:flush()
    end
    local ok, err, cleanup
    if kind == "mutants" then
      local description, body
      description, body, cleanup = mutant_case(k, seed, corpus, scratch)
      log_start(description)
      ok, err = pcall(body)
    else
      local made, succeeded, last_error
      ok, made, succeeded, last_error = pcall(call_case, k, seed, targets, pool, 8,
        function(text) log_start(("call %d: %s"):format(k, text)) end)
      if ok then ok, err = succeeded, last_error or "8 attempts, each refused" else err = made end
    end
    if not ok and tostring(err):find("interrupted!", 1, true) then
      log:write("interrupted ", k, "\n")
      log:close()
      os.exit(3)
    end
    if cleanup then cleanup() end
    collectgarbage("collect")
    local resident = smia.memory()
    if resident > cap / 2 then log:write("memory ", k, " ", resident, "\n") end
    log:write("end ", k, " ", ok and "ok" or ("error: " .. tostring(err):gsub("\n.*", ""):sub(1, 160)), "\n")
    log:flush()
  end
  log:close()
  os.exit(0)
end

-- ---------------------------------------------------------------------------------------------
-- The parent: batches of cases in capped children; findings from their logs.

local function parse_options(list)
  local o = {mutants = 300, calls = 300, seed = 1, batch = 100, cap = 4 * 1024 * 1024, limit = 300, keep = 0}
  local i = 1
  while i <= #list do
    local key = list[i]:match("^%-%-(.+)$")
    local value = tonumber(list[i + 1] or "")
    if not key or o[key] == nil or not value then
      io.stderr:write("usage: smia-lua Tests/fuzz/fuzz.lua [--mutants N] [--calls N] [--seed S] [--batch B] [--cap KIB] [--limit SECONDS] [--keep 1]\n")
      os.exit(2)
    end
    o[key] = math.tointeger(value) or value
    i = i + 2
  end
  return o
end

--- What the log says about the cases from `first`: the last case started, and whether it ended.
local function read_log(path, first)
  local started, ended, memory, starts = nil, {}, {}, 0
  local descriptions = {}
  for line in io.lines(path) do
    local what, k, rest = line:match("^(%a+) (%d+) ?(.*)$")
    k = tonumber(k)
    if k and k >= first then
      if what == "start" then started = k; descriptions[k] = rest; starts = starts + 1
      elseif what == "end" then ended[k] = true
      elseif what == "memory" then memory[#memory + 1] = {k, tonumber(rest)} end
    end
  end
  return started, ended, memory, descriptions, starts
end

local function run_parent(o)
  local work = os.tmpname()
  os.remove(work)
  assert(os.execute("mkdir -p " .. shell_quote(work)))
  make_corpus(work .. "/corpus")
  -- The children's folder, two levels down, so the relative paths random calls write to
  -- ("out.png", "../x") stay inside the work folder.
  assert(os.execute("mkdir -p " .. shell_quote(work .. "/run/here")))
  -- The children run in the scratch folder: the paths they get are absolute.
  local function absolute(path) return path:sub(1, 1) == "/" and path or (os.getenv("PWD") or ".") .. "/" .. path end
  local script, interpreter = absolute(debug.getinfo(1, "S").source:match("^@(.*)$")), host()
  if interpreter:find("/") then interpreter = absolute(interpreter) end
  local findings, slow, cases, calls = {}, 0, 0, 0
  local started_at = smia.clock()
  for _, kind in ipairs{"mutants", "calls"} do
    local total = o[kind]
    local first = 1
    local log_path = work .. "/" .. kind .. ".log"
    write_file(log_path, "")
    while first <= total do
      local last = math.min(total, first + o.batch - 1)
      -- SIGINT at the time limit (a Lua error in the child), SIGKILL 30 s later if that fails.
      local command = ("ulimit -v %d; cd %s/run/here && SWIFT_BACKTRACE=enable=no SMIA_FUZZ_CAP_BYTES=%d timeout -s INT -k 30 %d %s %s --child %s %d %d %d %s %s >/dev/null 2>>%s")
        :format(o.cap, shell_quote(work), o.cap * 1024, o.limit, shell_quote(interpreter), shell_quote(script), kind, first, last,
          o.seed, shell_quote(work), shell_quote(log_path), shell_quote(log_path .. ".stderr"))
      write_file(log_path .. ".stderr", "")
      local _, how, status = os.execute(command)
      status = how == "exit" and status or 128 + status
      local started, ended, memory, descriptions, starts = read_log(log_path, first)
      if kind == "calls" then calls = calls + starts end
      for _, m in ipairs(memory) do
        findings[#findings + 1] = ("memory: %s: resident %.0f MiB after it"):format(descriptions[m[1]] or m[1], m[2] / 2 ^ 20)
      end
      if status == 0 then
        cases = cases + (last - first + 1)
        first = last + 1
      elseif status == 3 then
        slow = slow + 1
        print(("slow (stopped by Ctrl-C): %s"):format(descriptions[started] or started))
        cases = cases + (started - first + 1)
        first = started + 1
      else
        local culprit = started and not ended[started] and started or nil
        local what = (status == 124 or status == 137) and "hang" or "crash"
        local stderr = read_file(log_path .. ".stderr") or ""
        findings[#findings + 1] = ("%s (exit status %d): %s [seed %d, batch from %d]\n    %s"):format(what, status,
          culprit and descriptions[culprit] or "before the first case", o.seed, first,
          stderr:sub(1, 400):gsub("\n", "\n    "))
        cases = cases + ((culprit or first) - first + 1)
        first = (culprit or first) + 1
      end
      -- Progress on stderr, so that a run of thousands shows it is alive.
      io.stderr:write(("fuzz: %s %d/%d, %d findings, %.0f s\n"):format(kind, first - 1, total, #findings,
        smia.clock() - started_at))
    end
  end
  if o.keep == 0 then os.execute("rm -rf " .. shell_quote(work)) else print("fuzz: logs and corpus kept in " .. work) end
  for _, f in ipairs(findings) do print(f) end
  print(("fuzz: %d mutants and %d call cases (%d calls) with seed %d, in %.0f s: %d findings, %d slow cases")
    :format(o.mutants, o.calls, calls, o.seed, smia.clock() - started_at, #findings, slow))
  os.exit(#findings == 0 and 0 or 1)
end

if arg[1] == "--child" then
  run_child(arg[2], tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5]), arg[6], arg[7])
else
  run_parent(parse_options(arg))
end
