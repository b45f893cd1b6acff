-- smia.attack.smia{variant = "official"}: the authors' released SMIA (docs/smia_official.md)
-- against the same steps written here from primitives (conv2d, autograd.grad, argmax), and
-- their gkern filter against its weight built as their numpy code builds it.
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")
local T, nn, A = smia.tensor, smia.nn, smia.attack
local tests = {}

-- gkern(3, 1) as SMIA.py computes it, then np.stack([kernel] * 3).swapaxes(2, 0) and
-- expand_dims(…, 3), read by F.conv2d as (out, in, kH, kW): element [j][i][c][1] of the
-- result is kernel[i][j]. For C channels other than 3, channel c takes index (c - 1) % 3 + 1.
local function gkern_weight(c)
  local x, k1 = {-1, 0, 1}, {}
  for i = 1, 3 do k1[i] = math.exp(-(-1 - x[i]) ^ 2 / 2) / math.sqrt(2 * math.pi) end  -- st.norm.pdf(-1, x)
  local raw, total = {}, 0
  for i = 1, 3 do
    raw[i] = {}
    for j = 1, 3 do raw[i][j] = k1[i] * k1[j]; total = total + raw[i][j] end
  end
  local w = {}
  for j = 1, c do
    w[j] = {}
    for i = 1, c do
      w[j][i] = {}
      for stacked = 1, 3 do w[j][i][stacked] = {raw[(i - 1) % 3 + 1][(j - 1) % 3 + 1] / total} end
    end
  end
  return T.from(w)
end

-- A normalized Gaussian, per channel (groups = C), "same" size.
local function gaussian_weight(c, size, sigma)
  local w, total, r = {}, 0, (size - 1) / 2
  for i = 1, size do
    for j = 1, size do total = total + math.exp(-((i - 1 - r) ^ 2 + (j - 1 - r) ^ 2) / (2 * sigma ^ 2)) end
  end
  for ch = 1, c do
    w[ch] = {{}}
    for i = 1, size do
      w[ch][1][i] = {}
      for j = 1, size do w[ch][1][i][j] = math.exp(-((i - 1 - r) ^ 2 + (j - 1 - r) ^ 2) / (2 * sigma ^ 2)) / total end
    end
  end
  return T.from(w)
end

local function smoother(c, o)
  if o.kernel == "gkern" then
    local w = gkern_weight(c)
    return function(s) return nn.conv2d(s, w, nil, {padding = {2, 0}, dilation = {2, 1}}) end
  end
  local size = o.kernel_size or 3
  local w = gaussian_weight(c, size, o.sigma or 1)
  return function(s) return nn.conv2d(s, w, nil, {padding = (size - 1) // 2, groups = c}) end
end

-- The authors' loop: loss (the target from the previous iteration), g, s = step·sign g, the
-- next target argmax f(x̃ + W∗s) without gradient, x̃ + s clipped to [0, 1], no projection.
local function reference(m, x, y, o)
  local smooth, step, alpha = smoother(x:shape()[2], o), o.step, o.alpha or 1
  local x_adv, target = x:clone(), nil
  for t = 1, o.steps do
    local previous_target = target
    local g = smia.autograd.grad(function(z)
      local out = m(z)
      local loss = nn.cross_entropy(out, y)
      if t > 1 and alpha ~= 0 then loss = loss - nn.cross_entropy(out, previous_target) * alpha end
      return loss
    end)(x_adv)
    local s = g:sign() * step
    target = smia.no_grad(function() return m(x_adv + smooth(s)):argmax(2) end)
    x_adv = (x + ((x_adv + s) - x)):clamp(0, 1)  -- the engine's arithmetic: x + (x̃ + s − x)
  end
  return x_adv
end

local function classifier(channels)
  smia.seed(4)
  local m = nn.Sequential{nn.Conv2d{channels, 8, 3, padding = 1}, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear{8 * 8 * 8, 4}}:eval()
  for _, p in ipairs(m:parameters()) do p:mul_(3) end
  local x = T.rand({16, channels, 16, 16}, 3)
  return m, x, m(x):argmax(2)
end

local function segmenter()
  smia.seed(1)
  local m = nn.Sequential{nn.Conv2d{1, 8, 3, padding = 1}, nn.ReLU(), nn.Conv2d{8, 3, 3, padding = 1}}:eval()
  local x = T.rand({4, 1, 16, 16}, 2)
  return m, x, m(x):argmax(2)
end

local function official(o)
  local t = {variant = "official"}
  for k, v in pairs(o) do t[k] = v end
  return A.smia(t)
end

function tests.gkern_profile_is_scipys()
  -- scipy.stats.norm.pdf(-1, np.linspace(-1, 1, 3)), normalized (computed with SciPy).
  local w = gkern_weight(3)
  local k = {0.57409699, 0.34820743, 0.07769558}
  for o = 1, 3 do
    for i = 1, 3 do
      for h = 1, 3 do H.near(w[{o, i, h, 1}], k[o] * k[i], 1e-6, "weight") end
    end
  end
end

function tests.official_matches_the_steps_written_out()
  for _, channels in ipairs{1, 3} do
    local m, x, y = classifier(channels)
    local kernel_mattered = false
    for _, o in ipairs{{step = 2 / 255, steps = 10},
                       {step = 4 / 255, steps = 10, alpha = 0.5},            -- beyond 8/255: no projection
                       {step = 8 / 255, steps = 6, kernel = "gkern"},
                       {step = 16 / 255, steps = 6, kernel = "gkern"},
                       {step = 3 / 255, steps = 5, kernel_size = 5, sigma = 2, alpha = 0.1}} do
      local got = official(o):run(m, x, y)
      local want = reference(m, x, y, o)
      local d = (got - want):abs():max():item()
      assert(d <= 1e-6, ("official (C = %d, %s) differs by %g"):format(channels, H.fmt(o), d))
      if o.kernel == "gkern" then
        local gaussian = official{step = o.step, steps = o.steps}:run(m, x, y)
        kernel_mattered = kernel_mattered or (got - gaussian):abs():max():item() > 0
      end
    end
    -- The targets of these images change with the filter, so the comparison sees the filter.
    assert(kernel_mattered, ("C = %d: gkern and the Gaussian gave the same images"):format(channels))
  end
  local m, x, y = segmenter()
  for _, o in ipairs{{step = 2 / 255, steps = 8}, {step = 2 / 255, steps = 8, kernel = "gkern"}} do
    local d = (official(o):run(m, x, y) - reference(m, x, y, o)):abs():max():item()
    assert(d <= 1e-6, "official on a segmenter differs by " .. d)
  end
end

function tests.official_is_not_the_other_variants()
  local m, x, y = classifier(1)
  local o = {step = 2 / 255, steps = 10, projection = "none"}
  local got = official(o):run(m, x, y)
  for _, other in ipairs{{}, {hard_target = true}, {detach_target = true}, {hard_target = true, smooth = "last_step"}} do
    for k, v in pairs(o) do other[k] = v end
    assert((A.smia(other):run(m, x, y) - got):abs():max():item() > 0, "official equals smia " .. H.fmt(other))
  end
  -- α = 0 is DEV; the projection is the ball's when asked for.
  H.close(official{step = 2 / 255, steps = 5, alpha = 0}:run(m, x, y),
          A.dev{step = 2 / 255, steps = 5, projection = "none"}:run(m, x, y), 0, "alpha 0")
  local ball = official{eps = 4 / 255, step = 2 / 255, steps = 10, projection = "linf"}:run(m, x, y)
  assert((ball - x):abs():max():item() <= 4 / 255 + 1e-6, "projected")
  assert((got - x):abs():max():item() > 8 / 255, "not projected by default")
end

function tests.official_on_a_detector_and_recorded()
  local det = H.square_detector()
  local x, boxes = H.squares(8, 77)
  local _, s = official{step = 8 / 255, steps = 4, record = true}:run(det, x, boxes)
  H.eq(s.task, "detection")
  assert(s.cos_mean == s.cos_mean and s.var > 0, "recorded")
end

function tests.official_bad_options()
  local m, x, y = classifier(1)
  H.raises(function() A.smia{variant = "authors"} end, "option 'variant': expected 'paper' or 'official', got 'authors'")
  H.raises(function() A.smia{variant = "official", hard_target = true} end, "unknown option 'hard_target'")
  H.raises(function() A.smia{variant = "official", smooth = "last_step"} end, "unknown option 'smooth'")
  H.raises(function() A.smia{variant = "official", kernel = "gkern", sigma = 2} end, "option 'sigma' sets the Gaussian kernel")
  H.raises(function() A.smia{variant = "official", kernel = "box"} end, "kernel")
  H.raises(function() A.smia{variant = "official", kernel_size = 4} end, "kernel_size must be a positive odd number")
  H.raises(function() A.smia{kernel = "gkern"} end, "unknown option 'kernel'")
  H.raises(function() A.smia{variant = 3} end, "variant")
  -- A paper-variant table still takes variant = "paper".
  H.close(A.smia{variant = "paper", steps = 2}:run(m, x, y), A.smia{steps = 2}:run(m, x, y), 0, "paper")
end

return tests
