-- DAG, Dense Adversary Generation (Xie et al., ICCV 2017), on smia.attack.iterative for a
-- segmenter (labels (N, H, W)): each step ascends the sum, over the pixels still predicted as
-- their label l, of Z_l′ − Z_l (l′: the runner-up class on the clean image), along r/||r||∞
-- (step_rule "linf") by gamma; no projection, images clipped to [0, 1]. A run stops once no
-- pixel is left. Gives the images of the built-in smia.attack.dag.
--   local dag_lua = dofile("scripts/attacks/dag.lua")
--   local x_adv, stats = dag_lua{gamma = 0.5/255, steps = 200}:run(segmenter, x, y)
-- As a script (smia-lua scripts/attacks/dag.lua): attacks a small random segmenter.
local smia = require("smia")
local T, nn = smia.tensor, smia.nn

local function dag(options)
  local o, left = {gamma = 0.5 / 255, steps = 200}, 0
  for k, v in pairs(options or {}) do o[k] = v end
  o.step, o.step_rule, o.projection, o.gamma = o.gamma, "linf", "none", nil
  o.loss = function(ctx)
    local z = ctx.output
    local classes = T.arange(z:shape()[2]):reshape{1, -1, 1, 1}
    local own = classes:eq(ctx.y:unsqueeze(2))
    if ctx.iteration == 1 then ctx.state.other = classes:eq((z:detach() - own * 1e30):argmax(2):unsqueeze(2)) end
    local alive = z:argmax(2):eq(ctx.y):unsqueeze(2)
    left = alive:sum():item()
    return (z * (ctx.state.other - own) * alive):sum()
  end
  o.on_step = function() return left > 0 end
  return smia.attack.iterative(o)
end

if arg and arg[0] and arg[0]:match("attacks[/\\]dag%.lua$") then
  smia.seed(1)
  local model = nn.Sequential{nn.Conv2d{1, 8, 3, padding = 1}, nn.ReLU(), nn.Conv2d{8, 3, 3, padding = 1}}:eval()
  local x = smia.tensor.rand({4, 1, 16, 16}, 2)
  local y = model(x):argmax(2)
  for name, a in pairs{lua = dag{steps = 50}, builtin = smia.attack.dag{steps = 50}} do
    local _, s = a:run(model, x, y)
    print(("%-8s pixel accuracy %.3f  L∞ %.4f  %d gradients  %.3f s"):format(name, s.pixel_accuracy, s.linf, s.gradients, s.seconds))
  end
end
return dag
