-- Attack speed against the machine's matmul speed.
--
--   smia-lua scripts/bench/attacks.lua [quick]     (or: make bench)
--
-- Prints one JSON object per line: first the matmul GFLOP/s at 1024x1024 (sgemm); then, for
-- two models, the forward pass, the forward pass plus the input gradient of the cross-entropy
-- (`smia.autograd.grad`), and 10-step attacks: pgd, smia, dev, and `iterative` with a Lua loss
-- equal to pgd's cross-entropy (the cost of a loss written in Lua). `quick` shortens the timing
-- budget, for a smoke run.
--
-- Models: the fixture ResNet-18 (5 classes, 3x64x64, weights from Tests/Data/fixtures) at batch
-- 16, and the fixture small CNN architecture (1x28x28, random weights) at batch 128.
--
-- Fields, per line:
-- - seconds_per_image: best wall-clock time of one call, divided by the batch;
-- - gflops: FLOPs the network does in that call, counted from the conv and linear shapes (a
--   forward is F; an input gradient adds ~F, no weight gradients), over the time; and
--   vs_matmul, that as a fraction of the matmul GFLOP/s measured just before the model;
-- - for attacks, vs_network: the time over steps x (forward + gradient), so 1.0 means the
--   engine costs nothing beyond the network. Every attack also runs a clean forward, a final
--   scoring forward and its report; SMIA does two forwards (and two backwards) per step from
--   the second on, so expect about 2.
local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
local bench = dofile(here .. "/../lib/bench.lua")
local T, nn, A = smia.tensor, smia.nn, smia.attack

local quick = (arg and arg[1]) == "quick"
local budget = quick and 0.05 or 1.0
local steps = 10

-- FLOPs of one image through a convolution (k x k kernel, output oh x ow) or a linear layer.
local function conv_flops(cin, cout, k, oh, ow) return 2 * cin * cout * k * k * oh * ow end
local function linear_flops(cin, cout) return 2 * cin * cout end

-- torchvision's ResNet-18 on an s x s image: conv1 7x7/2, max pool /2, four stages of two
-- basic blocks (3x3 convolutions; the first block of stages 2-4 halves the size and has a 1x1
-- downsample), then the classifier.
local function resnet18_flops(cin, s, classes)
  s = s // 2
  local f = conv_flops(cin, 64, 7, s, s)
  s = s // 2
  local width = 64
  for stage = 1, 4 do
    local out = 64 * 2 ^ (stage - 1) // 1
    for block = 1, 2 do
      local first = block == 1 and stage > 1
      local inw = block == 1 and width or out
      if first then s = s // 2 end
      f = f + conv_flops(inw, out, 3, s, s) + conv_flops(out, out, 3, s, s)
      if first then f = f + conv_flops(inw, out, 1, s, s) end
    end
    width = out
  end
  return f + linear_flops(512, classes)
end

-- The fixture small CNN (Tests/lua/test_fixtures.lua) on 1x28x28.
local function small_cnn()
  return nn.Sequential{
    nn.Conv2d{1, 16, 3, padding = 1}, nn.BatchNorm2d{16}, nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d{16, 32, 3, padding = 1}, nn.BatchNorm2d{32}, nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear{1568, 64}, nn.ReLU(), nn.Linear{64, 10},
  }
end
local small_cnn_flops = conv_flops(1, 16, 3, 28, 28) + conv_flops(16, 32, 3, 14, 14)
  + linear_flops(1568, 64) + linear_flops(64, 10)

local fixtures = here .. "/../../Tests/Data/fixtures/"
local models = {
  {name = "resnet18", batch = 16, input = {3, 64, 64}, classes = 5, flops = resnet18_flops(3, 64, 5),
   build = function()
     local m = smia.models.resnet18{num_classes = 5}
     m:load_weights(fixtures .. "resnet18_c3_64x64_k5_s1.weights.safetensors")
     return m
   end},
  {name = "smallcnn", batch = 128, input = {1, 28, 28}, classes = 10, flops = small_cnn_flops, build = small_cnn},
}

local function ce(ctx) return nn.cross_entropy(ctx.output, ctx.y) end
-- name, attack, backward passes per image (a backward costs about a forward)
local attacks = {
  {"pgd", A.pgd{steps = steps}, steps},
  {"smia", A.smia{steps = steps}, 2 * steps - 1},
  {"dev", A.dev{steps = steps}, steps},
  {"iterative_lua_ce", A.iterative{steps = steps, random_start = true, loss = ce}, steps},
}

local matmul = bench.matmul_gflops(1024)
bench.emit{{"bench", "matmul"}, {"n", 1024}, {"gflops", matmul}}

for i, spec in ipairs(models) do
  local m = spec.build()
  m:eval()
  local n = spec.batch
  local x = T.rand({n, table.unpack(spec.input)}, 100 + i)
  local y = T.from((function()
    local labels = {}
    for k = 1, n do labels[k] = (k - 1) % spec.classes end
    return labels
  end)())
  local reference = bench.matmul_gflops(1024)
  local function emit(what, seconds, flops, extra)
    local gflops = flops / seconds / 1e9
    local fields = {{"bench", "attack_speed"}, {"model", spec.name}, {"what", what}, {"batch", n},
                    {"matmul_gflops", reference}, {"seconds_per_image", seconds / n},
                    {"gflops", gflops}, {"vs_matmul", gflops / reference}}
    for _, kv in ipairs(extra or {}) do fields[#fields + 1] = kv end
    bench.emit(fields)
  end

  local forward = bench.best_time(function() return smia.no_grad(function() return m(x) end) end, budget)
  emit("forward", forward, n * spec.flops)
  local input_grad = smia.autograd.grad(function(input) return nn.cross_entropy(m(input), y) end)
  local both = bench.best_time(function() return input_grad(x) end, budget)
  emit("forward+input_grad", both, 2 * n * spec.flops)

  for _, a in ipairs(attacks) do
    local name, attack, backwards = table.unpack(a)
    local stats
    local seconds = bench.best_time(function()
      local _, s = attack:run(m, x, y)
      stats = s
    end, budget)
    -- stats.forwards counts every forward in images, including the clean and scoring ones.
    local flops = (stats.forwards + backwards * n) * spec.flops
    emit(name, seconds, flops, {{"steps", steps}, {"forwards_per_image", stats.forwards // n},
                                {"vs_network", seconds / (steps * both)}})
  end
end
