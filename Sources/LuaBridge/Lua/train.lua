-- smia.train: a seeded generator, data sources, augmentation, accuracy and fit, the training
-- loop of scripts/train/*.lua.
local smia, tensor_mt, module_mt = ...
local T, nn = smia.tensor, smia.nn
local train = {}
smia.train = train

local function typename(v)
  if smia.is_tensor(v) then return "tensor" end
  if getmetatable(v) == module_mt then return "module" end
  return type(v)
end

-- v[name] without raising for values that cannot be indexed.
local function field(v, name)
  local t = type(v)
  if t ~= "table" and t ~= "userdata" then return nil end
  local ok, value = pcall(function() return v[name] end)
  if ok then return value end
  return nil
end

local function is_callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return type(mt) == "table" and mt.__call ~= nil
end

-- Generator ----------------------------------------------------------------------------------

--- A seeded generator (SplitMix64 on Lua's 64-bit integers): the same numbers on every machine,
--- and none of Lua's global math.random state touched.
local Rng = {}
Rng.__index = Rng

function train.rng(seed)
  local s = math.tointeger(seed)
  if not s then error(("bad argument #1 to 'rng' (integer expected, got %s)"):format(typename(seed)), 2) end
  return setmetatable({state = s}, Rng)
end

function Rng:next()
  self.state = self.state + 0x9E3779B97F4A7C15
  local z = self.state
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return z ~ (z >> 31)
end

--- Uniform in [0, 1).
function Rng:uniform() return (self:next() >> 11) * (1.0 / 9007199254740992.0) end

--- Uniform integer in 1..n.
function Rng:random(n) return (self:next() >> 1) % n + 1 end

--- 1..n in a random order (Fisher-Yates).
function Rng:permutation(n)
  local order = {}
  for i = 1, n do order[i] = i end
  for i = n, 2, -1 do
    local j = self:random(i)
    order[i], order[j] = order[j], order[i]
  end
  return order
end

-- Data ---------------------------------------------------------------------------------------

--- What fit reads: `{size = n, batch = function(positions) -> {x =, y =}}` from a table
--- `{x = images (N, ...), y = labels (N, ...)}` or a dataset with `size` and `get(i)` (1-based;
--- its `batch(positions)` when it has one). Returns nil and a message for anything else.
function train.source(data, what)
  what = what or "data"
  if type(data) == "table" and smia.is_tensor(data.x) then
    local x, y = data.x, data.y
    if x:dim() == 0 then return nil, ("%s.x: expected a tensor with a sample dimension, got a scalar"):format(what) end
    local n = x:shape()[1]
    if type(y) == "table" and not smia.is_tensor(y) then
      -- One target per sample as a Lua list (detection: a list of boxes per image).
      if #y ~= n then return nil, ("%s: x holds %d samples but the list y holds %d"):format(what, n, #y) end
      return {size = n, batch = function(positions)
        local ys = {}
        for k, i in ipairs(positions) do ys[k] = y[i] end
        return {x = x:index(1, positions), y = ys, indices = positions}
      end}
    end
    if y ~= nil and not smia.is_tensor(y) then return nil, ("%s.y: tensor or list expected, got %s"):format(what, typename(y)) end
    if y ~= nil and (y:dim() == 0 or y:shape()[1] ~= n) then
      return nil, ("%s: x holds %d samples but y does not (size %s)"):format(what, n, table.concat(y:shape(), "x"))
    end
    return {size = n, batch = function(positions)
      return {x = x:index(1, positions), y = y and y:index(1, positions), indices = positions}
    end}
  end
  local size, get = field(data, "size"), field(data, "get")
  if is_callable(size) and is_callable(get) then
    local n = size(data)
    local batch = field(data, "batch")
    if is_callable(batch) then return {size = n, batch = function(positions) return batch(data, positions) end} end
    return {size = n, batch = function(positions)
      local xs, ys = {}, {}
      for k, i in ipairs(positions) do xs[k], ys[k] = get(data, i) end
      local y
      if smia.is_tensor(ys[1]) then y = T.stack(ys, 1) elseif type(ys[1]) == "number" then y = T.from(ys) elseif type(ys[1]) == "table" then y = ys end
      return {x = T.stack(xs, 1), y = y, indices = positions}
    end}
  end
  return nil, ("%s: expected a table {x = images, y = labels} or a dataset with size and get, got %s"):format(what, typename(data))
end

--- Batches of `size` positions of src in `order`, as an iterator.
local function batches(src, order, size, drop_last)
  local first, n = 1, #order
  return function()
    local last = math.min(first + size - 1, n)
    if first > n or (drop_last and last - first + 1 < size) then return nil end
    local positions = table.move(order, first, last, 1, {})
    first = last + 1
    return src.batch(positions)
  end
end

--- Fraction of predictions `model(x):argmax(2)` equal to y: accuracy for (N, C) outputs, pixel
--- accuracy for (N, C, H, W). Runs in eval mode without recording; the mode is restored.
function train.accuracy(model, data, batch_size)
  if getmetatable(model) ~= module_mt then
    error(("bad argument #1 to 'accuracy' (module expected, got %s)"):format(typename(model)), 2)
  end
  local src, message = train.source(data, "data")
  if not src then error(("bad argument #2 to 'accuracy' (%s)"):format(message), 2) end
  batch_size = batch_size or 256
  local was_training = model:is_training()
  model:eval()
  local ok, result = pcall(smia.no_grad, function()
    local order = {}
    for i = 1, src.size do order[i] = i end
    local correct, total = 0, 0
    for b in batches(src, order, batch_size, false) do
      correct = correct + model(b.x):argmax(2):eq(b.y):sum():item()
      total = total + b.y:numel()
    end
    return total > 0 and correct / total or 0
  end)
  model:train(was_training)
  if not ok then error(result, 0) end
  return result
end

-- Augmentation -------------------------------------------------------------------------------

-- Labels that are images too (segmentation masks N x H x W): moved with the images.
local function spatial(y, x)
  if not smia.is_tensor(y) or y:dim() < 3 then return false end
  local ys, xs = y:shape(), x:shape()
  return ys[#ys] == xs[#xs] and ys[#ys - 1] == xs[#xs - 1]
end

-- Labels that are boxes (detection): a Lua list with one list of boxes per sample, each box
-- {x1, y1, x2, y2, class} or {x1 =, y1 =, x2 =, y2 =, class =} in pixel edges.
local function box_lists(y, x)
  return type(y) == "table" and not smia.is_tensor(y) and #y == x:shape()[1]
end

local function box_coordinates(box)
  local function get(i, name)
    local v = box[i]
    if v == nil then v = box[name] end
    return v
  end
  return get(1, "x1"), get(2, "y1"), get(3, "x2"), get(4, "y2"), get(5, "class")
end

-- The boxes of sample k moved by `move(x1, y1, x2, y2) -> x1, y1, x2, y2`, as new tables
-- {x1, y1, x2, y2, class}; boxes left without area are dropped.
local function move_boxes(boxes, move)
  local out = {}
  for _, box in ipairs(boxes) do
    local x1, y1, x2, y2, class = box_coordinates(box)
    x1, y1, x2, y2 = move(x1, y1, x2, y2)
    if x2 > x1 and y2 > y1 then out[#out + 1] = {x1, y1, x2, y2, class} end
  end
  return out
end

-- Each sample flipped along its dimension `from_end` (0: the last) with probability 1/2.
local function random_flip(b, rng, from_end)
  local n = b.x:shape()[1]
  local chosen = {}
  for k = 1, n do chosen[k] = rng:uniform() < 0.5 and 1 or 0 end
  local mask = T.from(chosen)
  local function apply(t)
    local shape = {n}
    for _ = 2, t:dim() do shape[#shape + 1] = 1 end
    return T.where(mask:reshape(shape), t:flip(t:dim() - from_end), t)
  end
  local side = b.x:shape()[b.x:dim() - from_end]
  b.x = apply(b.x)
  if spatial(b.y, b.x) then
    b.y = apply(b.y)
  elseif box_lists(b.y, b.x) then
    local y = {}
    for k = 1, n do
      if chosen[k] == 1 then
        y[k] = move_boxes(b.y[k], function(x1, y1, x2, y2)
          if from_end == 0 then return side - x2, y1, side - x1, y2 end
          return x1, side - y2, x2, side - y1
        end)
      else
        y[k] = b.y[k]
      end
    end
    b.y = y
  end
end

-- Each sample padded by `pad` zeros on every side, then cropped back to its size at a random place.
local function random_crop(b, rng, pad)
  local shape = b.x:shape()
  local n, h, w = shape[1], shape[#shape - 1], shape[#shape]
  local px = b.x:pad{pad, pad, pad, pad}
  local py = spatial(b.y, b.x) and b.y:pad{pad, pad, pad, pad} or nil
  local boxes = box_lists(b.y, b.x)
  local xs, ys = {}, {}
  for k = 1, n do
    local top, left = rng:random(2 * pad + 1), rng:random(2 * pad + 1)
    xs[k] = px[k]:narrow(-2, top, h):narrow(-1, left, w)
    if py then ys[k] = py[k]:narrow(-2, top, h):narrow(-1, left, w) end
    if boxes then
      -- Pixel column c lands on c + pad - (left - 1); boxes are clipped to the image.
      local dx, dy = pad - left + 1, pad - top + 1
      ys[k] = move_boxes(b.y[k], function(x1, y1, x2, y2)
        return math.max(0, math.min(w, x1 + dx)), math.max(0, math.min(h, y1 + dy)),
          math.max(0, math.min(w, x2 + dx)), math.max(0, math.min(h, y2 + dy))
      end)
    end
  end
  b.x = T.stack(xs, 1)
  if py then b.y = T.stack(ys, 1) elseif boxes then b.y = ys end
end

-- Each sample shifted by a uniform offset in [-delta, delta], kept in [0, 1].
local function random_brightness(b, rng, delta)
  local shape = b.x:shape()
  local offsets = {}
  for k = 1, shape[1] do offsets[k] = (2 * rng:uniform() - 1) * delta end
  local s = {shape[1]}
  for _ = 2, #shape do s[#s + 1] = 1 end
  b.x = (b.x + T.from(offsets):reshape(s)):clamp(0, 1)
end

local augment_options = {flip = "boolean", vflip = "boolean", crop = "number", brightness = "number"}

--- An augmentation function(batch, rng) -> batch from options: `flip = true` (horizontal),
--- `vflip = true`, `crop = pad` (pad with zeros, crop at a random place), `brightness = delta`.
--- Images are N x C x H x W; masks N x H x W, and lists of boxes per image (detection), follow
--- the flips and crops (boxes are clipped to the image, and dropped when nothing is left).
function train.augmentation(options)
  if type(options) ~= "table" then
    error(("bad argument #1 to 'augmentation' (table of options expected, got %s)"):format(typename(options)), 2)
  end
  for k, v in pairs(options) do
    local expected = augment_options[k]
    if not expected then
      error(("bad argument #1 to 'augmentation' (unknown option '%s' (expected flip, vflip, crop, brightness))"):format(tostring(k)), 2)
    end
    if type(v) ~= expected then
      error(("bad argument #1 to 'augmentation' (option '%s': %s expected, got %s)"):format(k, expected, typename(v)), 2)
    end
  end
  local crop = options.crop
  if crop and (math.tointeger(crop) == nil or crop < 0) then
    error(("bad argument #1 to 'augmentation' (option 'crop': integer >= 0 expected, got %s)"):format(tostring(crop)), 2)
  end
  local brightness = options.brightness
  if brightness and not (brightness >= 0) then
    error(("bad argument #1 to 'augmentation' (option 'brightness': number >= 0 expected, got %s)"):format(tostring(brightness)), 2)
  end
  return function(b, rng)
    if b.x:dim() < 3 then error(("augmentation: expected images N x C x H x W, got size %s"):format(table.concat(b.x:shape(), "x")), 2) end
    local out = {}
    for k, v in pairs(b) do out[k] = v end
    if options.flip then random_flip(out, rng, 0) end
    if options.vflip then random_flip(out, rng, 1) end
    if crop and crop > 0 then random_crop(out, rng, crop) end
    if brightness and brightness > 0 then random_brightness(out, rng, brightness) end
    return out
  end
end

-- fit ----------------------------------------------------------------------------------------

local fit_options = {
  model = true, loss = true, optimizer = true, schedule = true, train = true, val = true, metric = true,
  epochs = true, batch_size = true, seed = true, augment = true, checkpoint = true, mode = true,
  clip_grad_norm = true, drop_last = true, shuffle = true, quiet = true,
}

local function positive_integer(v) return math.tointeger(v) ~= nil and v >= 1 end

-- The checked configuration, or nil and the problem.
local function configure(o)
  if type(o) ~= "table" then return nil, ("table of options expected, got %s"):format(typename(o)) end
  for k in pairs(o) do
    if not fit_options[k] then return nil, ("unknown option '%s'"):format(tostring(k)) end
  end
  local c = {}
  if getmetatable(o.model) ~= module_mt then return nil, ("option 'model': module expected, got %s"):format(typename(o.model)) end
  c.model = o.model
  local opt = o.optimizer
  if not (is_callable(field(opt, "step")) and is_callable(field(opt, "parameters"))) then
    return nil, ("option 'optimizer': optimizer expected (smia.optim.sgd, adam, adamw), got %s"):format(typename(opt))
  end
  c.optimizer = opt
  if o.loss ~= nil and not is_callable(o.loss) then return nil, ("option 'loss': function expected, got %s"):format(typename(o.loss)) end
  c.loss = o.loss or function(out, b) return nn.cross_entropy(out, b.y) end
  if o.schedule ~= nil and not is_callable(o.schedule) then
    return nil, ("option 'schedule': schedule or function expected, got %s"):format(typename(o.schedule))
  end
  c.schedule = o.schedule
  if o.train == nil then return nil, "option 'train' is required" end
  if is_callable(o.train) then
    c.batches_fn = o.train
  else
    local src, message = train.source(o.train, "option 'train'")
    if not src then return nil, message end
    c.source = src
  end
  if o.val ~= nil then
    -- A metric of the caller's own may read any kind of validation data.
    local src, message = train.source(o.val, "option 'val'")
    if not src and o.metric == nil then return nil, message end
  end
  if o.metric ~= nil and not is_callable(o.metric) then return nil, ("option 'metric': function expected, got %s"):format(typename(o.metric)) end
  if o.metric ~= nil and o.val == nil then return nil, "option 'metric' needs option 'val'" end
  c.val = o.val
  c.metric = o.metric or (o.val ~= nil and function(model, val) return train.accuracy(model, val, c.batch_size) end)
  for _, name in ipairs{"epochs", "batch_size"} do
    if o[name] ~= nil and not positive_integer(o[name]) then
      return nil, ("option '%s': positive integer expected, got %s"):format(name, tostring(o[name]))
    end
  end
  c.epochs, c.batch_size = o.epochs or 1, o.batch_size or 32
  if o.seed ~= nil and not math.tointeger(o.seed) then return nil, ("option 'seed': integer expected, got %s"):format(tostring(o.seed)) end
  c.seed = o.seed or 0
  if o.augment == nil or is_callable(o.augment) then
    c.augment = o.augment
  elseif type(o.augment) == "table" then
    local ok, f = pcall(train.augmentation, o.augment)
    if not ok then return nil, ("option 'augment': %s"):format((tostring(f):gsub("^.-%((.*)%)$", "%1"))) end
    c.augment = f
  else
    return nil, ("option 'augment': function or table of options expected, got %s"):format(typename(o.augment))
  end
  if o.checkpoint ~= nil and type(o.checkpoint) ~= "string" then
    return nil, ("option 'checkpoint': path expected, got %s"):format(typename(o.checkpoint))
  end
  c.checkpoint = o.checkpoint
  c.mode = o.mode or "max"
  if c.mode ~= "max" and c.mode ~= "min" then return nil, ("option 'mode': 'max' or 'min' expected, got %s"):format(tostring(o.mode)) end
  if o.clip_grad_norm ~= nil and not (type(o.clip_grad_norm) == "number" and o.clip_grad_norm > 0) then
    return nil, ("option 'clip_grad_norm': positive number expected, got %s"):format(tostring(o.clip_grad_norm))
  end
  c.clip = o.clip_grad_norm
  for _, name in ipairs{"drop_last", "shuffle", "quiet"} do
    if o[name] ~= nil and type(o[name]) ~= "boolean" then
      return nil, ("option '%s': boolean expected, got %s"):format(name, typename(o[name]))
    end
  end
  c.drop_last = o.drop_last or false
  -- Progress lines go to a terminal; quiet = false keeps them in a log too.
  if o.quiet == nil then c.quiet = not smia.is_terminal(2) else c.quiet = o.quiet end
  c.shuffle = o.shuffle ~= false
  return c
end

-- The batches of one epoch, as an iterator.
local function epoch_batches(c, epoch, rng)
  if c.batches_fn then
    local r = c.batches_fn(epoch, rng)
    if type(r) == "table" then
      local i = 0
      return function() i = i + 1; return r[i] end
    end
    if type(r) ~= "function" then
      error(("fit: option 'train' must return a list or an iterator of batches, got %s"):format(typename(r)), 0)
    end
    return r
  end
  local order
  if c.shuffle then
    order = rng:permutation(c.source.size)
  else
    order = {}
    for i = 1, c.source.size do order[i] = i end
  end
  return batches(c.source, order, c.batch_size, c.drop_last)
end

--- Trains `model` with `optimizer` on `train` for `epochs` epochs. Options:
---   loss = function(output, batch) -> scalar tensor (default: cross-entropy with batch.y);
---   train = {x =, y =}, a dataset (size, get), or function(epoch, rng) giving batches {x =, y =};
---     y may be a Lua list with one target per sample (detection: a list of boxes per image);
---   the model's output may be anything the loss reads (a detector's table of heads);
---   val = data for metric(model, val) -> number (default: accuracy), run in eval mode without
---     recording after each epoch; mode = "max" (default) or "min": which metric is better;
---   epochs = 1, batch_size = 32, seed = 0 (shuffling and augmentation), shuffle = true,
---   drop_last = false; augment = function(batch, rng) -> batch or options of train.augmentation;
---   schedule = function of the step (0 for the first) setting optimizer.lr before each step;
---   clip_grad_norm = max norm; checkpoint = path: the best epoch's weights (by the metric,
---     or the training loss without val), written atomically; quiet = true: no progress lines.
--- Prints one line per epoch on stderr, with the time left, when it is a terminal (or with
--- quiet = false: in a batch job's log too). Returns {epochs = {{epoch, loss, metric, lr, seconds}},
--- best_epoch =, best =}; the model is left in eval mode.
function train.fit(o)
  local c, problem = configure(o)
  if not c then error(("bad argument #1 to 'fit' (%s)"):format(problem), 2) end
  local model, opt = c.model, c.optimizer
  local params = opt:parameters()
  local value_and_grad = smia.autograd.value_and_grad(function(_, b) return c.loss(model(b.x), b) end)
  local rng = train.rng(c.seed)
  local history = {epochs = {}}
  local step = 0
  local fit_started = smia.clock()
  for epoch = 1, c.epochs do
    local started = smia.clock()
    model:train()
    local total, count = 0, 0
    for b in epoch_batches(c, epoch, rng) do
      if c.augment then b = c.augment(b, rng) or b end
      if c.schedule then opt.lr = c.schedule(step) end
      local value, grads = value_and_grad(params, b)
      if value ~= value or value == math.huge or value == -math.huge then
        error(("fit: the loss is %s at epoch %d, step %d"):format(tostring(value), epoch, step + 1), 2)
      end
      if c.clip then smia.optim.clip_grad_norm(grads, c.clip) end
      opt:step(grads)
      step = step + 1
      local n = smia.is_tensor(b.x) and b.x:dim() > 0 and b.x:shape()[1] or 1
      total, count = total + value * n, count + n
    end
    if count == 0 then error(("fit: no training batches in epoch %d"):format(epoch), 2) end
    model:eval()
    local metric
    if c.metric then
      metric = smia.no_grad(c.metric, model, c.val)
      if type(metric) ~= "number" then
        error(("fit: the metric must return a number, got %s"):format(typename(metric)), 2)
      end
    end
    local loss = total / count
    local score, better = metric, c.mode
    if score == nil then score, better = loss, "min" end
    local improved = history.best == nil or (better == "max" and score > history.best) or (better == "min" and score < history.best)
    if improved then
      history.best, history.best_epoch = score, epoch
      if c.checkpoint then model:save_weights(c.checkpoint) end
    end
    local seconds = smia.clock() - started
    history.epochs[epoch] = {epoch = epoch, loss = loss, metric = metric, lr = opt.lr, seconds = seconds}
    if not c.quiet then
      io.stderr:write(("epoch %d/%d  loss %.4f%s  lr %.3g  %.1f s, about %.0f s left%s\n"):format(epoch, c.epochs, loss,
        metric and ("  val %.4f"):format(metric) or "", opt.lr or 0, seconds, (smia.clock() - fit_started) / epoch * (c.epochs - epoch),
        improved and c.checkpoint and "  saved" or ""))
    end
  end
  return history
end
