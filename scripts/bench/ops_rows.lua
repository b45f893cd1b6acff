-- The smia-lua half of `make bench-ops`: one convolution, pooling or batch norm at a time
-- (scripts/bench/ops_vs_pytorch.py runs the PyTorch half and calls this once per row, so both
-- halves of a row run back to back on the same machine).
--
--   smia-lua scripts/bench/ops_rows.lua ROW      (ROW: one of the row names)
--   smia-lua scripts/bench/ops_rows.lua list     (one JSON line per row: its name and definition)
--
-- Prints one JSON object: {"row": ROW, "seconds": best wall-clock time of one call}.
-- The rows are defined here only: ops_vs_pytorch.py reads the definitions from `list` and builds
-- the same operation in PyTorch. Each operation is measured three ways:
-- - forward: the operation without recording for autograd;
-- - input_grad: the gradient of the sum of its output with respect to its input (forward with
--   recording, then backward), as torch.autograd.grad(op(x).sum(), x);
-- - weight_grad (operations with weights): the same with respect to the weights only (convolution:
--   the kernel; batch norm: weight and bias), the input needing no gradient.
-- Shapes: layers of ResNet-18 at batch 8 on 224x224 images, of the shipped U-Net and detector at
-- batch 16 on 64x64 images, and of the small CNN at batch 256 on 28x28 images.
local T, nn = smia.tensor, smia.nn
local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
local bench = dofile(here .. "/../lib/bench.lua")

-- name, input {N, C, H, W}, out channels, kernel, stride, padding
local convolutions = {
  {"conv_r18_stem_7x7s2_3to64_224", {8, 3, 224, 224}, 64, 7, 2, 3},
  {"conv_r18_l1_3x3_64to64_56", {8, 64, 56, 56}, 64, 3, 1, 1},
  {"conv_r18_l2_3x3s2_64to128_56", {8, 64, 56, 56}, 128, 3, 2, 1},
  {"conv_r18_l2_down_1x1s2_64to128_56", {8, 64, 56, 56}, 128, 1, 2, 0},
  {"conv_r18_l3_3x3_256to256_14", {8, 256, 14, 14}, 256, 3, 1, 1},
  {"conv_r18_l4_3x3_512to512_7", {8, 512, 7, 7}, 512, 3, 1, 1},
  {"conv_r50_l1_1x1_256to64_56", {8, 256, 56, 56}, 64, 1, 1, 0},
  {"conv_unet_3x3_1to4_64", {16, 1, 64, 64}, 4, 3, 1, 1},
  {"conv_unet_3x3_4to4_64", {16, 4, 64, 64}, 4, 3, 1, 1},
  {"conv_unet_3x3_16to16_16", {16, 16, 16, 16}, 16, 3, 1, 1},
  {"conv_det_3x3s2_3to8_64", {16, 3, 64, 64}, 8, 3, 2, 1},
  {"conv_det_head_1x1_32to5_16", {16, 32, 16, 16}, 5, 1, 1, 0},
}

-- name, op, input, options
local pools = {
  {"maxpool_r18_3x3s2p1_112", "max_pool2d", {8, 64, 112, 112}, {kernel_size = 3, stride = 2, padding = 1}},
  {"maxpool_unet_2x2_64", "max_pool2d", {16, 4, 64, 64}, {kernel_size = 2}},
  {"maxpool_cnn_2x2_28", "max_pool2d", {256, 32, 28, 28}, {kernel_size = 2}},
  {"avgpool_2x2_56", "avg_pool2d", {8, 64, 56, 56}, {kernel_size = 2}},
  {"adaptivepool_r18_1_7", "adaptive_avg_pool2d", {8, 512, 7, 7}, {output_size = 1}},
}

-- name, input, training
local norms = {
  {"bn_r18_stem_112", {8, 64, 112, 112}},
  {"bn_r18_l3_14", {8, 256, 14, 14}},
  {"bn_det_32", {16, 16, 32, 32}},
}

-- Each row: name, definition (for `list`), and a maker returning op(x, params) and params (or nil).
local rows = {}
local function add(name, spec, make)
  for _, pass in ipairs{"forward", "input_grad", "weight_grad"} do
    if pass ~= "weight_grad" or spec.weights then
      rows[#rows + 1] = {name = name .. "_" .. pass, pass = pass, spec = spec, make = make}
    end
  end
end

for i, c in ipairs(convolutions) do
  local name, input, out, k, stride, padding = table.unpack(c)
  local spec = {op = "conv2d", input = input, out_channels = out, kernel = k, stride = stride, padding = padding, weights = true}
  add(name, spec, function()
    local w = T.randn({out, input[2], k, k}, 100 + i) * (1 / math.sqrt(k * k * input[2]))
    local options = {stride = stride, padding = padding}
    return function(x, p) return nn.conv2d(x, p, options) end, w
  end)
end

for _, p in ipairs(pools) do
  local name, op, input, options = table.unpack(p)
  local spec = {op = op, input = input}
  for key, value in pairs(options) do spec[key] = value end
  add(name, spec, function()
    if op == "adaptive_avg_pool2d" then
      return function(x) return nn.adaptive_avg_pool2d(x, options.output_size) end
    end
    return function(x) return nn[op](x, options) end
  end)
end

for i, b in ipairs(norms) do
  local name, input = table.unpack(b)
  for _, training in ipairs{false, true} do
    local spec = {op = "batch_norm", input = input, training = training, weights = true}
    add(name .. (training and "_train" or "_eval"), spec, function()
      local c = input[2]
      local mean, var = T.randn({c}, 200 + i) * 0.1, T.rand({c}, 300 + i) + 0.5
      local params = {T.rand({c}, 400 + i) + 0.5, T.randn({c}, 500 + i) * 0.1}
      return function(x, p) return nn.batch_norm(x, mean, var, p[1], p[2], training) end, params
    end)
  end
end

-- A Lua value as JSON (numbers, booleans, strings, lists and string-keyed tables, keys sorted).
local function json(v)
  if type(v) == "table" then
    if #v > 0 then
      local parts = {}
      for _, e in ipairs(v) do parts[#parts + 1] = json(e) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = json(k) .. ":" .. json(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif type(v) == "string" then
    return '"' .. v .. '"'
  end
  return tostring(v)
end

local wanted = arg and arg[1]
if wanted == nil or wanted == "list" then
  for _, r in ipairs(rows) do
    local line = {row = r.name, pass = r.pass}
    for k, v in pairs(r.spec) do line[k] = v end
    print(json(line))
  end
  return
end
for _, r in ipairs(rows) do
  if r.name == wanted then
    local op, params = r.make()
    local x = T.rand(r.spec.input, 1)
    local work
    if r.pass == "forward" then
      work = function() return smia.no_grad(function() return op(x, params) end) end
    elseif r.pass == "input_grad" then
      local df = smia.autograd.grad(function(input) return op(input, params):sum() end)
      work = function() return df(x) end
    else
      local df = smia.autograd.grad(function(p) return op(x, p):sum() end)
      work = function() return df(params) end
    end
    -- A warm-up call, then at least 2 calls and 1 second, as ops_vs_pytorch.py times PyTorch.
    bench.emit{{"row", r.name}, {"seconds", bench.best_time(work, 1.0, 2)}}
    return
  end
end
error("unknown row '" .. tostring(wanted) .. "' (run with 'list' for the rows)")
