-- smia.lua: the main job of smia-lua.
--
-- A small end-to-end run you can read in one sitting, until the medical benchmarks and the
-- attack library arrive:
--   1. generate a two-class image problem: textured gray images, half of them with a faint
--      round "lesion" somewhere in the image;
--   2. build a small CNN with smia.nn and train it with autograd (SGD with momentum);
--   3. attack it with DEV (iterative FGSM on the cross-entropy) and with SMIA, both written
--      out below in plain Lua on smia's tensors (see ../shared/SMIA.md for the method);
--   4. print clean and adversarial accuracy, the perturbations' variance (Var) and the
--      consistency of consecutive updates (Cos) for each attack.
--
-- Run:  smia-lua scripts/smia.lua [--n 200] [--epochs 4] [--eps 0.0314] [--step 0.0078] [--steps 10] [--alpha 1] [--seed 1]

local smia = require("smia")
local T, nn = smia.tensor, smia.nn

-- Options -----------------------------------------------------------------------------------

local options = { n = 1024, epochs = 6, eps = 8 / 255, step = 2 / 255, steps = 10, alpha = 1, seed = 1 }

local function usage(message)
  io.stderr:write(("smia.lua: %s\nusage: smia-lua scripts/smia.lua [--n N] [--epochs E] [--eps X] [--step X] [--steps K] [--alpha A] [--seed S]\n"):format(message))
  os.exit(2)
end

local i = 1
while i <= #arg do
  local name = arg[i]:match("^%-%-(%a+)$")
  if not name or options[name] == nil then usage(("unknown option '%s'"):format(arg[i])) end
  local value = tonumber(arg[i + 1])
  if not value then usage(("option --%s expects a number"):format(name)) end
  options[name] = value
  i = i + 2
end
if options.n < 16 or options.n % 2 ~= 0 then usage("--n must be an even number >= 16") end
if options.eps < 0 or options.step <= 0 or options.steps < 1 or options.epochs < 1 then
  usage("--eps must be >= 0, --step > 0, --steps and --epochs >= 1")
end

local progress = io.stderr
local function say(fmt, ...) progress:write(fmt:format(...), "\n") end

-- 1. Data: textured backgrounds; class 1 carries a faint blob ------------------------------

local SIZE = 24

-- n images (n, 1, SIZE, SIZE) and labels (n): alternating classes, everything from `seed`.
local function make_images(n, seed)
  local rows = T.arange(SIZE):reshape{SIZE, 1}
  local cols = T.arange(SIZE):reshape{1, SIZE}
  -- Texture: blurred noise, plus a random brightness per image.
  local texture = nn.gaussian_blur(T.randn({n, 1, SIZE, SIZE}, seed), 5, 1.5) * 0.35
  local brightness = T.rand({n, 1, 1, 1}, seed + 1) * 0.3 + 0.35
  local placement = T.rand({n, 3}, seed + 2)
  local images, labels = {}, {}
  for k = 1, n do
    local label = (k - 1) % 2
    local image = texture[k] + brightness[k]
    if label == 1 then
      local cy = 4 + placement[k][1] * (SIZE - 8)
      local cx = 4 + placement[k][2] * (SIZE - 8)
      local radius = 1.5 + placement[k][3] * 1.5
      local d2 = (rows - cy) ^ 2 + (cols - cx) ^ 2
      image = image + (d2 * (-1 / (2 * radius * radius))):exp() * 0.45
    end
    images[k] = image:clamp(0, 1)
    labels[k] = label
  end
  return T.stack(images, 1), T.from(labels)
end

-- 2. Model and training ---------------------------------------------------------------------

smia.seed(options.seed)
local model = nn.Sequential{
  nn.Conv2d{1, 8, 3, padding = 1}, nn.BatchNorm2d{8}, nn.ReLU{}, nn.MaxPool2d{2},
  nn.Conv2d{8, 16, 3, padding = 1}, nn.BatchNorm2d{16}, nn.ReLU{}, nn.MaxPool2d{2},
  nn.Flatten{}, nn.Linear{16 * 6 * 6, 32}, nn.ReLU{}, nn.Linear{32, 2},
}

local function accuracy(logits, labels)
  local correct = logits:argmax(2):eq(labels):sum():item()
  return correct / labels:numel()
end

local train_x, train_y = make_images(options.n, options.seed * 1000)
local test_x, test_y = make_images(math.max(64, options.n // 4), options.seed * 1000 + 500)

local params = model:parameters()
local velocity = {}
for k, p in ipairs(params) do velocity[k] = T.zeros(p:shape()) end
local loss_of = smia.autograd.grad(function(weights, x, y)
  return nn.cross_entropy(model(x), y)
end)

local batch, rate, momentum = 32, 0.05, 0.9
local started = smia.clock()
for epoch = 1, options.epochs do
  model:train()
  local total, batches = 0, 0
  -- Shuffle (Fisher-Yates on Lua's own seeded generator, the same on every machine).
  math.randomseed(options.seed * 100 + epoch)
  local order = {}
  for k = 1, options.n do order[k] = k end
  for k = options.n, 2, -1 do
    local j = math.random(k)
    order[k], order[j] = order[j], order[k]
  end
  for first = 1, options.n, batch do
    local idx = table.move(order, first, math.min(first + batch - 1, options.n), 1, {})
    local grads, loss = loss_of(params, train_x:index(1, idx), train_y:index(1, idx))
    for k, p in ipairs(params) do
      velocity[k]:mul_(momentum):add_(grads[k])
      p:sub_(velocity[k] * rate)
    end
    total, batches = total + loss, batches + 1
  end
  model:eval()
  say("epoch %d  loss %.4f  test accuracy %.3f", epoch, total / batches,
      smia.no_grad(function() return accuracy(model(test_x), test_y) end))
end
say("trained in %.1f s", smia.clock() - started)

-- 3. DEV and SMIA, written out --------------------------------------------------------------

-- The paper's objective (SMIA.md): at iteration 1 the deviation L(f(x̃), y); from iteration 2
-- on, L(f(x̃), y) − α·L(f(x̃), softmax f(x + W∗η)), η = x̃ − x and W a normalized 5×5
-- Gaussian (σ = 1). The gradient flows through the target too. α = 0 gives DEV.
local function attack(x, y, alpha)
  local adversarial = x
  local updates = {}
  for iteration = 1, options.steps do
    local g = smia.autograd.grad(function(current)
      local output = model(current)
      local loss = nn.cross_entropy(output, y)
      if iteration >= 2 and alpha ~= 0 then
        local target = model(x + nn.gaussian_blur(current - x, 5, 1)):softmax(2)
        loss = loss - nn.cross_entropy(output, target) * alpha
      end
      return loss
    end)(adversarial)
    local stepped = adversarial + g:sign() * options.step
    -- Project onto the L∞ ball of radius eps around x, then onto the valid range.
    local next_image = T.minimum(T.maximum(stepped, x - options.eps), x + options.eps):clamp(0, 1)
    updates[#updates + 1] = next_image - adversarial
    adversarial = next_image
  end
  return adversarial, updates
end

-- Var: variance of η's values per image, averaged. Cos: cosine of consecutive updates.
local function variance(eta)
  return eta:flatten(2):var(2, false):mean():item()
end

local function consistency(updates)
  local sum, positive, count = 0, 0, 0
  for k = 2, #updates do
    local a, b = updates[k - 1]:flatten(2), updates[k]:flatten(2)
    local dots = (a * b):sum(2)
    local norms = a:norm(2) * b:norm(2)
    for s = 1, dots:numel() do
      local norm = norms[s]
      if norm > 0 then
        local c = dots[s] / norm
        sum, count = sum + c, count + 1
        if c > 0 then positive = positive + 1 end
      end
    end
  end
  if count == 0 then return 0, 0 end
  return sum / count, positive / count
end

local clean_accuracy = smia.no_grad(function() return accuracy(model(test_x), test_y) end)
print(("%-6s %9s %12s %10s %9s"):format("method", "accuracy", "Var", "Cos mean", "Cos > 0"))
print(("%-6s %9.3f %12s %10s %9s"):format("clean", clean_accuracy, "-", "-", "-"))
for _, method in ipairs{ { "DEV", 0 }, { "SMIA", options.alpha } } do
  local started_attack = smia.clock()
  local adversarial, updates = attack(test_x, test_y, method[2])
  local robust = smia.no_grad(function() return accuracy(model(adversarial), test_y) end)
  local cos_mean, cos_positive = consistency(updates)
  print(("%-6s %9.3f %12.3e %10.3f %8.1f%%"):format(method[1], robust, variance(adversarial - test_x), cos_mean, cos_positive * 100))
  say("%s: %d steps on %d images in %.2f s", method[1], options.steps, test_y:numel(), smia.clock() - started_attack)
end
