local T, nn, optim = smia.tensor, smia.nn, smia.optim
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local tests = {}

local logits = T.from{{1, 2, 3}, {0.5, -1, 0}, {0, 0, 2}}

-- -log softmax(row)[k], in Lua numbers.
local function nll_row(row, k)
  local s = 0
  for _, v in ipairs(row) do s = s + math.exp(v) end
  return math.log(s) - row[k + 1]
end
local rows = {{1, 2, 3}, {0.5, -1, 0}, {0, 0, 2}}

function tests.cross_entropy_options()
  local y = T.from{2, 1, 0}
  local l = {nll_row(rows[1], 2), nll_row(rows[2], 1), nll_row(rows[3], 0)}
  -- The two-argument form of docs/api.md: the mean.
  H.near(nn.cross_entropy(logits, y):item(), (l[1] + l[2] + l[3]) / 3)
  H.near(nn.cross_entropy(logits, y, "sum"):item(), l[1] + l[2] + l[3])
  H.close(nn.cross_entropy(logits, y, {reduction = "none"}), l)
  -- Class weights: the mean divides by the weights of the targets.
  local w = T.from{1, 2, 3}
  H.near(nn.cross_entropy(logits, y, {weight = w}):item(), (3 * l[1] + 2 * l[2] + 1 * l[3]) / 6)
  -- Ignored targets count neither in the sum nor in the denominator.
  local yi = T.from{2, 255, 0}
  H.near(nn.cross_entropy(logits, yi, {ignore_index = 255}):item(), (l[1] + l[3]) / 2)
  H.close(nn.cross_entropy(logits, yi, {ignore_index = 255, reduction = "none"}), {l[1], 0, l[3]})
  H.near(nn.cross_entropy(logits, T.from{2, -100, 0}):item(), (l[1] + l[3]) / 2, 1e-5, "PyTorch's default -100")
  -- Label smoothing: (1 - e) nll + e/C sum over the classes of -log p.
  local e = 0.1
  local expected = 0
  for n = 1, 3 do
    local all = 0
    for k = 0, 2 do all = all + nll_row(rows[n], k) end
    expected = expected + (1 - e) * l[n] + e / 3 * all
  end
  H.near(nn.cross_entropy(logits, y, {label_smoothing = e}):item(), expected / 3)
  -- Probability targets, per pixel.
  H.near(nn.cross_entropy(logits, T.from{{0, 0, 1}, {0, 1, 0}, {1, 0, 0}}):item(), (l[1] + l[2] + l[3]) / 3)
  H.same(nn.cross_entropy(T.zeros{2, 3, 4, 4}, T.zeros{2, 4, 4}, "none"):shape(), {2, 4, 4})
end

function tests.other_losses()
  local lp = logits:log_softmax(2)
  H.near(nn.nll_loss(lp, T.from{2, 1, 0}):item(), nn.cross_entropy(logits, T.from{2, 1, 0}):item(), 1e-6)
  H.near(nn.nll_loss(lp, T.from{2, 1, 0}, {weight = T.from{1, 0, 1}, reduction = "sum"}):item(),
    nll_row(rows[1], 2) + nll_row(rows[3], 0), 1e-5)
  -- BCE with logits: -(pw y log s(x) + (1 - y) log(1 - s(x))).
  local x, t = T.from{-2, 0, 3}, T.from{1, 0.5, 0}
  local function sig(v) return 1 / (1 + math.exp(-v)) end
  local b = {-math.log(sig(-2)), -(0.5 * math.log(0.5) + 0.5 * math.log(0.5)), -math.log(1 - sig(3))}
  H.close(nn.bce_with_logits(x, t, "none"), b)
  H.near(nn.bce_with_logits(x, t, {pos_weight = T.from{2}, reduction = "sum"}):item(),
    -2 * math.log(sig(-2)) - (0.5 * 2 * math.log(0.5) + 0.5 * math.log(0.5)) - math.log(1 - sig(3)))
  H.near(nn.bce_with_logits(T.from{1000}, T.from{0}):item(), 1000, 1e-6, "stable for large logits")
  H.near(nn.mse_loss(T.from{1, 2}, T.from{1, 4}):item(), 2)
  H.near(nn.mse_loss(T.from{1, 2}, T.from{1, 4}, "sum"):item(), 4)
  H.near(nn.l1_loss(T.from{1, 2}, T.from{0, 4}):item(), 1.5)
  -- KL: sum p (log p - log q); batchmean divides by the batch.
  local q, p = T.from{{0.25, 0.75}, {0.5, 0.5}}, T.from{{0.5, 0.5}, {1, 0}}
  local kl = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75) + math.log(1 / 0.5)
  H.near(nn.kl_div(q:log(), p, "batchmean"):item(), kl / 2)
  H.near(nn.kl_div(q:log(), p, {reduction = "sum"}):item(), kl)
  H.near(nn.kl_div(q:log(), p):item(), kl / 4, 1e-5, "mean over elements")
  H.near(nn.kl_div(q:log(), (p + 1e-30):log(), {reduction = "sum", log_target = true}):item(), kl, 1e-5)
  -- Dice: perfect logits give a loss near 0, the per-class losses have size C.
  local target = T.from{{{0, 1}, {1, 0}}}
  local perfect = T.from{{{{20, -20}, {-20, 20}}, {{-20, 20}, {20, -20}}}}
  H.near(nn.dice_loss(perfect, target, {smooth = 0}):item(), 0, 1e-6)
  H.same(nn.dice_loss(perfect, target, "none"):shape(), {2})
  H.near(nn.dice_loss(T.zeros{1, 2, 2, 2}, target, {smooth = 0}):item(), 0.5, 1e-6, "uniform predictions")
end

function tests.loss_gradients_match_differences()
  local x = T.randn({2, 3, 2, 2}, 4)
  local y = T.from{{{0, 1}, {2, 2}}, {{1, 0}, {2, 1}}}
  for name, f in pairs{
    dice = function(v) return nn.dice_loss(v, y) end,
    smoothed = function(v) return nn.cross_entropy(v, y, {label_smoothing = 0.2, weight = T.from{1, 2, 3}}) end,
    bce = function(v) return nn.bce_with_logits(v, T.rand({2, 3, 2, 2}, 5), {pos_weight = T.from{2}}) end,
  } do
    local g = smia.autograd.grad(f)(x)
    H.close(g, H.numeric_grad(f, x), 2e-3, name)
  end
end

function tests.loss_bad_calls()
  local y = T.from{2, 1, 0}
  H.raises(function() nn.cross_entropy(logits, y, "avg") end, "bad argument #3 to 'cross_entropy'", "reduction must be")
  H.raises(function() nn.cross_entropy(logits, y, {reduction = "batchmean"}) end, "reduction must be")
  H.raises(function() nn.cross_entropy(logits, y, {smoothing = 0.1}) end, "unknown option 'smoothing'")
  H.raises(function() nn.cross_entropy(logits, y, {label_smoothing = 2}) end, "label_smoothing")
  H.raises(function() nn.cross_entropy(logits, y, {weight = T.ones{2}}) end, "weight per class")
  H.raises(function() nn.cross_entropy(logits, y, {weight = 2}) end, "option 'weight'", "tensor expected")
  H.raises(function() nn.cross_entropy(logits, T.from{1, 2}) end, "expected target of size 3")
  H.raises(function() nn.cross_entropy(logits, T.from{3, 0, 0}) end, "not a class index")
  H.raises(function() nn.cross_entropy(logits, logits:softmax(2), {ignore_index = 1}) end, "ignore_index")
  H.raises(function() nn.cross_entropy(logits, y, {}, 1) end, "bad argument #4")
  H.raises(function() nn.cross_entropy(logits, y, 3) end, "bad argument #3", "table of options or reduction name")
  H.raises(function() nn.nll_loss(logits, nil) end, "bad argument #2 to 'nll_loss' (tensor expected, got nil)")
  H.raises(function() nn.bce_with_logits(T.zeros{2}, T.zeros{3}) end, "bce_with_logits", "size")
  H.raises(function() nn.bce_with_logits(T.zeros{2}, T.zeros{2}, {pos_weight = T.ones{3}}) end, "broadcast")
  H.raises(function() nn.mse_loss(T.zeros{2}, T.zeros{2, 1}) end, "mse_loss", "size")
  H.raises(function() nn.l1_loss(T.zeros{2}, T.zeros{2}, "mean", 1) end, "bad argument #4")
  H.raises(function() nn.kl_div(T.zeros{2}, T.zeros{2}, "average") end, "'batchmean'")
  H.raises(function() nn.kl_div(T.zeros{2}, T.zeros{2}, {log_target = 1}) end, "option 'log_target'")
  H.raises(function() nn.dice_loss(T.zeros{1, 2, 2, 2}, T.zeros{1, 3, 3}) end, "dice_loss", "expected target")
  H.raises(function() nn.dice_loss(T.zeros{1, 2, 2, 2}, T.zeros{1, 2, 2}, {smooth = -1}) end, "smooth")
end

function tests.flip()
  local t = T.arange(6):reshape{2, 3}
  H.close(t:flip(2), {{2, 1, 0}, {5, 4, 3}})
  H.close(t:flip(-2), {{3, 4, 5}, {0, 1, 2}})
  H.close(t:flip{1, 2}, {{5, 4, 3}, {2, 1, 0}})
  H.raises(function() t:flip(3) end, "bad argument #1 to 'flip'", "out of range")
  H.raises(function() t:flip() end, "bad argument #1 to 'flip'")
  local g = smia.autograd.grad(function(v) return (v:flip(2) * T.from{{1, 2, 3}, {4, 5, 6}}):sum() end)(t)
  H.close(g, {{3, 2, 1}, {6, 5, 4}})
end

-- Three steps of PyTorch's rules from (1, -2) with gradients (0.5, 1), (-0.2, 0.4), (0.3, -0.1).
local grads = {{0.5, 1}, {-0.2, 0.4}, {0.3, -0.1}}
local function run(make)
  local p = T.from{1, -2}
  local opt = make{p}
  for _, g in ipairs(grads) do opt:step{T.from(g)} end
  return p, opt
end

function tests.optimizers_follow_pytorch()
  local p, opt = run(function(params) return optim.sgd(params, {lr = 0.1, momentum = 0.9, dampening = 0.1, weight_decay = 0.01}) end)
  H.close(p, {0.866538989, -2.31939414}, 1e-6, "sgd momentum")
  H.eq(opt.steps, 3, "steps")
  H.eq(opt:type(), "sgd")
  p = run(function(params) return optim.sgd(params, {lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 0.01}) end)
  H.close(p, {0.817657258, -2.41605629}, 1e-6, "sgd nesterov")
  p = run(function(params) return optim.adam(params, {lr = 0.01, weight_decay = 0.1}) end)
  H.close(p, {0.97765342, -2.02212486}, 1e-6, "adam")
  p = run(function(params) return optim.adamw(params, {lr = 0.01, weight_decay = 0.1}) end)
  H.close(p, {0.978125983, -2.01928785}, 1e-6, "adamw")
  p = run(function(params) return optim.adam(params, {lr = 0.01, amsgrad = true, betas = {0.9, 0.999}}) end)
  H.close(p, {0.981099538, -2.02531083}, 1e-6, "amsgrad")
  assert(tostring(opt):find("sgd(lr=0.1", 1, true), tostring(opt))
end

function tests.optimizer_lr_and_module_parameters()
  smia.seed(1)
  local m = nn.Linear{3, 2}
  local opt = optim.sgd(m, {lr = 0.5})
  H.eq(#opt:parameters(), 2, "weight and bias")
  H.eq(opt.lr, 0.5, "lr")
  opt.lr = 0.25
  H.eq(opt.lr, 0.25, "lr set")
  local x, y = T.randn({4, 3}, 2), T.from{0, 1, 1, 0}
  local before = m.weight:clone()
  local df = smia.autograd.grad(function(params) return nn.cross_entropy(m(x), y) end)
  local g = df(opt:parameters())
  opt:step(g)
  H.close(m.weight, before - g[1] * 0.25, 1e-6, "the module's own tensor moved")
  H.eq(opt.no_such_field, nil)
end

function tests.optimizer_bad_calls()
  local p = T.zeros{2}
  H.raises(function() optim.sgd({p}, {lr = -0.1}) end, "learning rate", ">= 0")
  H.raises(function() optim.sgd({p}, {}) end, "bad argument #2 to 'sgd'", "'lr' is required")
  H.raises(function() optim.sgd({p}) end, "bad argument #2 to 'sgd'")
  H.raises(function() optim.sgd({p}, {lr = 0.1, nesterov = true}) end, "Nesterov")
  H.raises(function() optim.sgd({p}, {lr = 0.1, momentum = "high"}) end, "option 'momentum'")
  H.raises(function() optim.sgd({}, {lr = 0.1}) end, "at least one parameter")
  H.raises(function() optim.sgd({p, 3}, {lr = 0.1}) end, "tensor expected at position 2")
  H.raises(function() optim.sgd(p, {lr = 0.1}) end, "bad argument #1 to 'sgd'", "module or list")
  H.raises(function() optim.adam({p}, {betas = {0.9}}) end, "option 'betas'")
  H.raises(function() optim.adam({p}, {betas = {1, 0.999}}) end, "beta1")
  H.raises(function() optim.adamw({p}, {lr = 0 / 0}) end, "NaN")
  local opt = optim.adam({p}, {lr = 0.1})
  H.raises(function() opt:step{} end, "expected 1 gradients")
  H.raises(function() opt:step{T.zeros{3}} end, "gradient 1 has size 3")
  H.raises(function() opt:step(T.zeros{2}) end, "bad argument #1 to 'step'", "list of gradients")
  H.raises(function() opt.lr = -1 end, "learning rate")
  H.raises(function() opt.lr = "fast" end, "number expected")
  H.raises(function() opt.momentum = 0.9 end, "cannot set field 'momentum'")
  H.raises(function() opt.step(p, {p}) end, "calling 'step' on bad self")
  H.close(p, {0, 0}, 0, "untouched by the refused steps")
  H.eq(opt.steps, 0, "no step counted")
end

function tests.schedules()
  local S = optim.schedule
  local s = S.step{lr = 0.1, step_size = 3, gamma = 0.5}
  H.near(s(0), 0.1); H.near(s(2), 0.1); H.near(s(3), 0.05); H.near(s(7), 0.025)
  local m = S.step{lr = 1, milestones = {2, 5}}
  H.near(m(1), 1); H.near(m(2), 0.1); H.near(m(5), 0.01)
  local c = S.cosine{lr = 1, steps = 4, min = 0.1}
  H.near(c(0), 1); H.near(c(2), 0.55); H.near(c(4), 0.1); H.near(c(40), 0.1)
  local w = S.warmup{steps = 4, after = c}
  H.near(w(0), 0.25); H.near(w(3), 1); H.near(w(4), 1); H.near(w(6), 0.55)
  local ws = S.warmup{steps = 2, after = S.step{lr = 0.2, step_size = 1}}
  H.near(ws(0), 0.1); H.near(ws(2), 0.2); H.near(ws(3), 0.02)
  H.near(S.warmup{steps = 10, after = 0.5}(4), 0.25, 1e-12, "a constant after the warm-up")
  assert(tostring(w):find("warmup", 1, true), tostring(w))
  H.raises(function() S.cosine{lr = 1} end, "'steps' is required")
  H.raises(function() S.cosine{lr = 1, steps = 0} end, "steps must be positive")
  H.raises(function() S.step{lr = 1} end, "step size or milestones")
  H.raises(function() S.step{lr = 1, step_size = 2, milestones = {3}} end, "step size or milestones")
  H.raises(function() S.step{lr = -1, step_size = 2} end, "lr must be")
  H.raises(function() S.warmup{steps = 2, after = "cosine"} end, "option 'after'", "got string")
  H.raises(function() S.warmup{steps = 2} end, "option 'after'")
  H.raises(function() c(-1) end, "bad argument #1 to 'schedule'", ">= 0")
  H.raises(function() c(1.5) end, "bad argument #1 to 'schedule'", "integer")
end

function tests.gradient_clipping()
  local a, b = T.from{3, 4}, T.from{12}
  H.near(optim.clip_grad_norm({a, b}, 6.5), 13, 1e-6)
  H.close(a, {1.5, 2}, 1e-6)
  H.close(b, {6}, 1e-6)
  H.near(optim.clip_grad_norm({a, b}, 100), 6.5, 1e-6, "returns the norm")
  H.close(a, {1.5, 2}, 1e-6, "unchanged below the limit")
  local g = T.from{-3, 0.5, 7}
  optim.clip_grad_value({g}, 1)
  H.close(g, {-1, 0.5, 1}, 0)
  H.raises(function() optim.clip_grad_norm({a}, -1) end, "max_norm")
  H.raises(function() optim.clip_grad_norm(a, 1) end, "bad argument #1 to 'clip_grad_norm'")
  H.raises(function() optim.clip_grad_value({g}) end, "bad argument #2 to 'clip_grad_value'")
end

function tests.rng_is_seeded()
  local r1, r2 = smia.train.rng(7), smia.train.rng(7)
  for _ = 1, 5 do H.eq(r1:next(), r2:next(), "same seed, same stream") end
  local p = smia.train.rng(3):permutation(10)
  table.sort(p)
  for i = 1, 10 do H.eq(p[i], i, "a permutation") end
  local u = smia.train.rng(1):uniform()
  assert(u >= 0 and u < 1)
  assert(smia.train.rng(1):next() ~= smia.train.rng(2):next())
  H.raises(function() smia.train.rng("x") end, "bad argument #1 to 'rng'")
end

function tests.augmentation()
  local x = T.rand({6, 2, 5, 5}, 1)
  local mask = T.rand({6, 5, 5}, 2)
  local rng = smia.train.rng(4)
  local flip = smia.train.augmentation{flip = true, vflip = true}
  local b = flip({x = x, y = mask}, rng)
  H.same(b.x:shape(), {6, 2, 5, 5})
  local changed = 0
  for k = 1, 6 do
    local xk, ok = b.x[k], false
    for _, cand in ipairs{x[k], x[k]:flip(3), x[k]:flip(2), x[k]:flip{2, 3}} do
      if (cand - xk):abs():max():item() == 0 then ok = true end
    end
    assert(ok, "each sample is itself, flipped, or both")
    if (x[k] - xk):abs():max():item() > 0 then changed = changed + 1 end
    -- The mask went through the same flips as its image: the same sums per row of image and mask pairs.
    local flips = {{}, {3}, {2}, {2, 3}}
    for _, dims in ipairs(flips) do
      local same = (#dims == 0 and x[k] or x[k]:flip(dims)) - xk
      if same:abs():max():item() == 0 then
        local expected = #dims == 0 and mask[k] or mask[k]:flip((function() local d = {} for i, v in ipairs(dims) do d[i] = v - 1 end return d end)())
        H.close(b.y[k], expected, 0, "mask flipped with its image")
        break
      end
    end
  end
  assert(changed > 0, "some sample was flipped")
  -- A crop of padding 0 is the identity; with padding the size stays.
  H.close(smia.train.augmentation{crop = 0}({x = x}, rng).x, x, 0)
  local cropped = smia.train.augmentation{crop = 2}({x = x, y = T.arange(6)}, rng)
  H.same(cropped.x:shape(), {6, 2, 5, 5})
  H.close(cropped.y, T.arange(6), 0, "class labels untouched")
  local bright = smia.train.augmentation{brightness = 0.5}({x = x}, rng).x
  assert(bright:min():item() >= 0 and bright:max():item() <= 1, "kept in [0, 1]")
  assert((bright - x):abs():max():item() > 0, "changed")
  H.raises(function() smia.train.augmentation{rotate = true} end, "unknown option 'rotate'")
  H.raises(function() smia.train.augmentation{crop = -1} end, "option 'crop'")
  H.raises(function() smia.train.augmentation{crop = 1.5} end, "option 'crop'")
  H.raises(function() smia.train.augmentation{flip = 1} end, "option 'flip'", "boolean expected")
  H.raises(function() smia.train.augmentation(true) end, "bad argument #1 to 'augmentation'")
end

function tests.augmentation_moves_boxes()
  -- One bright box per image, at columns 1..3 (x1 = 1, x2 = 4) and rows 2..5 of an 8x8 image.
  local n = 16
  local pattern = {}
  for r = 0, 7 do
    pattern[r + 1] = {}
    for c = 0, 7 do pattern[r + 1][c + 1] = (r >= 2 and r < 6 and c >= 1 and c < 4) and 1 or 0 end
  end
  local x = T.from{{pattern}} * T.ones{n, 1, 1, 1}
  local boxes = {}
  for k = 1, n do boxes[k] = {{x1 = 1, y1 = 2, x2 = 4, y2 = 6, class = k % 3}} end
  local rng = smia.train.rng(7)
  local function check(b, what)
    for k = 1, n do
      -- The box is where the bright pixels went.
      local img = b.x[k][1]
      local cols, rows = img:sum(1), img:sum(2)
      local c1, c2, r1, r2
      for i = 1, 8 do
        if cols[i] > 0 then c1 = c1 or i - 1; c2 = i end
        if rows[i] > 0 then r1 = r1 or i - 1; r2 = i end
      end
      local box = b.y[k][1]
      if c1 == nil then
        H.eq(#b.y[k], 0, what .. ": no box when the object left the image")
      else
        H.eq(#b.y[k], 1, what)
        local got = {box[1] or box.x1, box[2] or box.y1, box[3] or box.x2, box[4] or box.y2, box[5] or box.class}
        H.same(got, {c1, r1, c2, r2, k % 3}, what .. " sample " .. k)
      end
    end
  end
  local flipped = smia.train.augmentation{flip = true, vflip = true}({x = x, y = boxes}, rng)
  check(flipped, "flips")
  local moved = 0
  for k = 1, n do if flipped.y[k][1] ~= boxes[k][1] then moved = moved + 1 end end
  assert(moved > 0, "some boxes moved")
  check(smia.train.augmentation{crop = 3}({x = x, y = boxes}, rng), "crop")
  H.eq(boxes[1][1].x1, 1, "the caller's boxes are untouched")
end

function tests.fit_trains_a_detector_on_lists_of_boxes()
  -- A model whose output is a table (the detector's heads) and targets that are lists of boxes.
  local ds = smia.data.endoscopy{split = "train", n = 8}
  local b = ds:batch{1, 2, 3, 4, 5, 6, 7, 8}
  smia.seed(3)
  local det = smia.models.detector{in_channels = 3, num_classes = 5, width = 4}
  local out = det(b.x)
  assert(type(out) == "table" and smia.is_tensor(out.heatmap), "det(x) gives a table of heads")
  local h = smia.train.fit{
    model = det, optimizer = optim.adam(det, {lr = 0.01}), train = {x = b.x, y = b.y},
    loss = function(o, batch) return det:loss(o, batch.y) end,
    val = {x = b.x, y = b.y},
    metric = function(m, v) return (smia.metrics.map(m:decode(m(v.x), {threshold = 0.01}), v.y)) end,
    epochs = 3, batch_size = 4, seed = 1, quiet = true, augment = {flip = true, crop = 2},
  }
  H.eq(#h.epochs, 3)
  assert(h.epochs[3].loss < h.epochs[1].loss, "the detection loss went down")
  assert(h.best == h.best, "a metric came back")
  H.raises(function()
    smia.train.fit{model = det, optimizer = optim.adam(det, {lr = 0.01}), train = {x = b.x, y = {b.y[1]}}, quiet = true}
  end, "option 'train'", "the list y holds 1")
end

-- Two classes of 1x8x8 images: a bright centre blob or a bright ring, on noise.
local function blobs(n, seed)
  local coords = T.arange(8) - 3.5
  local r2 = coords:reshape{8, 1} ^ 2 + coords:reshape{1, 8} ^ 2
  local centre = (r2 * -0.3):exp()
  local ring = ((r2:sqrt() - 3) ^ 2 * -1.5):exp()
  local labels = {}
  for i = 1, n do labels[i] = (i - 1) % 2 end
  local y = T.from(labels)
  local which = y:reshape{n, 1, 1, 1}
  local x = T.rand({n, 1, 8, 8}, seed) * 0.3 + (which * ring + (1 - which) * centre) * 0.6
  return x:clamp(0, 1), y
end

local function small_cnn()
  return nn.Sequential{
    nn.Conv2d{1, 6, 3, padding = 1}, nn.BatchNorm2d{6}, nn.ReLU{}, nn.MaxPool2d{2},
    nn.Flatten{}, nn.Linear{6 * 16, 2},
  }
end

function tests.fit_trains_a_separable_problem()
  local x, y = blobs(192, 1)
  local vx, vy = blobs(64, 2)
  smia.seed(5)
  local model = small_cnn()
  assert(smia.train.accuracy(model, {x = vx, y = vy}) < 0.9, "the untrained model cannot tell the classes apart")
  local opt = optim.adam(model, {lr = 0.02})
  local dir = H.tmpdir()
  local path = dir .. "/best.safetensors"
  local steps_per_epoch = 192 // 32
  local h = smia.train.fit{
    model = model, optimizer = opt, train = {x = x, y = y}, val = {x = vx, y = vy},
    epochs = 6, batch_size = 32, seed = 3, quiet = true, checkpoint = path,
    augment = {flip = true, vflip = true, crop = 1, brightness = 0.05},
    schedule = optim.schedule.warmup{steps = 3, after = optim.schedule.cosine{lr = 0.02, steps = 6 * steps_per_epoch - 3}},
  }
  H.eq(#h.epochs, 6, "one entry per epoch")
  assert(h.best >= 0.95, ("validation accuracy %.3f"):format(h.best))
  assert(h.epochs[6].loss < h.epochs[1].loss, "the loss went down")
  H.eq(opt.steps, 6 * steps_per_epoch, "one step per batch")
  assert(not model:is_training(), "left in eval mode")
  -- The checkpoint holds the best epoch's weights.
  local restored = small_cnn()
  restored:load_weights(path)
  H.near(smia.train.accuracy(restored, {x = vx, y = vy}), h.best, 1e-12, "checkpoint accuracy")
  H.rmdir(dir)
end

function tests.fit_is_reproducible_and_takes_datasets()
  local x, y = blobs(64, 4)
  local function train_once(data)
    smia.seed(9)
    local model = small_cnn()
    local h = smia.train.fit{model = model, optimizer = optim.sgd(model, {lr = 0.05, momentum = 0.9}), train = data,
      epochs = 2, batch_size = 16, seed = 11, quiet = true, augment = {flip = true}}
    return h.epochs[2].loss, model
  end
  local l1, m1 = train_once({x = x, y = y})
  local l2 = train_once({x = x, y = y})
  H.eq(l1, l2, "same seeds, same run")
  -- An object with size and get (1-based), as smia.data datasets.
  local dataset = {size = function() return 64 end, get = function(_, i) return x[i], y[i] end}
  local l3 = train_once(dataset)
  H.near(l3, l1, 1e-6, "a dataset object gives the batches of the table")
  -- A function of the epoch giving the batches, and a custom loss and metric.
  smia.seed(9)
  local model = small_cnn()
  local seen = {}
  local h = smia.train.fit{model = model, optimizer = optim.sgd(model, {lr = 0.05}), epochs = 2, quiet = true,
    train = function(epoch) seen[#seen + 1] = epoch; return {{x = x:narrow(1, 1, 32), y = y:narrow(1, 1, 32)}} end,
    loss = function(out, b) return nn.cross_entropy(out, b.y, {label_smoothing = 0.1}) end,
    val = "anything", metric = function(m, v) assert(v == "anything"); assert(not m:is_training()); return 0.5 end}
  H.same(seen, {1, 2}, "called once per epoch")
  H.eq(h.epochs[2].metric, 0.5)
  assert(m1 ~= nil)
end

function tests.fit_bad_calls()
  local x, y = blobs(8, 1)
  local model = small_cnn()
  local opt = optim.sgd(model, {lr = 0.1})
  local base = {model = model, optimizer = opt, train = {x = x, y = y}, quiet = true}
  local function with(changes)
    local o = {}
    for k, v in pairs(base) do o[k] = v end
    for k, v in pairs(changes) do o[k] = v end
    return o
  end
  local fit = smia.train.fit
  H.raises(function() fit() end, "bad argument #1 to 'fit'", "table of options")
  H.raises(function() fit(with{model = T.zeros{1}}) end, "option 'model'", "got tensor")
  H.raises(function() fit(with{optimizer = {}}) end, "option 'optimizer'")
  H.raises(function() fit(with{epochs = 0}) end, "option 'epochs'", "positive integer")
  H.raises(function() fit(with{batch_size = 2.5}) end, "option 'batch_size'")
  H.raises(function() fit(with{epoch = 3}) end, "unknown option 'epoch'")
  H.raises(function() fit(with{train = 3}) end, "option 'train'")
  H.raises(function() fit(with{train = {x = x, y = T.zeros{3}}}) end, "option 'train'", "8 samples")
  H.raises(function() fit(with{augment = {spin = true}}) end, "option 'augment'", "unknown option 'spin'")
  H.raises(function() fit(with{metric = function() return 1 end}) end, "needs option 'val'")
  H.raises(function() fit(with{mode = "best"}) end, "option 'mode'")
  H.raises(function() fit(with{schedule = 0.1}) end, "option 'schedule'")
  H.raises(function() fit(with{loss = function(out) return out end}) end, "scalar")
  H.raises(function() fit(with{loss = function(out) return out:sum() * (0 / 0) end}) end, "the loss is")
  H.raises(function() fit(with{val = {x = x, y = y}, metric = function() return "good" end}) end, "metric must return a number")
  H.raises(function() fit(with{train = function() return 5 end}) end, "list or an iterator")
  H.raises(function() fit(with{train = function() return {} end}) end, "no training batches")
end

return tests
