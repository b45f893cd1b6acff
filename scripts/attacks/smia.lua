-- SMIA (Qi et al., ICLR 2021) on smia.attack.iterative, as in docs/api.md: sign steps on
-- L(f(x̃), y) − α·L(f(x̃), softmax f(x + W∗η)), η = x̃ − x, W a normalized Gaussian; the
-- deviation alone at iteration 1. Gives the images of the built-in smia.attack.smia.
--   local smia_lua = dofile("scripts/attacks/smia.lua")
--   local x_adv, stats = smia_lua{eps = 8/255, steps = 10, alpha = 1}:run(model, x, y)
-- Options: alpha (1), kernel_size (5), sigma (1), and those of smia.attack.iterative.
-- As a script (smia-lua scripts/attacks/smia.lua): attacks a small random CNN.
local smia = require("smia")
local nn = smia.nn

local function smia_attack(options)
  local o = {}
  for k, v in pairs(options or {}) do o[k] = v end
  local alpha, size, sigma = o.alpha or 1, o.kernel_size or 5, o.sigma or 1
  o.alpha, o.kernel_size, o.sigma = nil, nil, nil
  o.loss = function(ctx)
    local deviation = nn.cross_entropy(ctx.output, ctx.y)
    if ctx.iteration == 1 or alpha == 0 then return deviation end
    local target = nn.softmax(ctx.model(ctx.x + nn.gaussian_blur(ctx.x_adv - ctx.x, size, sigma)), 2)
    return deviation - nn.cross_entropy(ctx.output, target) * alpha
  end
  return smia.attack.iterative(o)
end

if arg and arg[0] and arg[0]:match("attacks[/\\]smia%.lua$") then
  smia.seed(1)
  local model = nn.Sequential{nn.Conv2d{1, 8, 3, padding = 1}, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear{8 * 8 * 8, 4}}:eval()
  local x = smia.tensor.rand({8, 1, 16, 16}, 2)
  local y = model(x):argmax(2)
  for name, a in pairs{lua = smia_attack{record = true}, builtin = smia.attack.smia{record = true}} do
    local _, s = a:run(model, x, y)
    print(("%-8s accuracy %.3f  Var %.3e  Cos %.3f  %.3f s"):format(name, s.accuracy, s.var, s.cos_mean, s.seconds))
  end
end
return smia_attack
