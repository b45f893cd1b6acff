-- smia.attack from Lua: every attack on a small model, the PyTorch fixtures (Tests/Data/fixtures),
-- the figures of a:run, attacks with a Lua loss (and scripts/attacks/*.lua against the built-in
-- ones), and bad options, each a clear error that leaves the host running.
local T, nn, A = smia.tensor, smia.nn, smia.attack
local dir = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
local H = dofile(dir .. "/helpers.lua")
local root = dir .. "/../../"
local fixtures = H.fixtures

local small_cnn = H.small_cnn

-- The fixture classifier (eval mode, with batch norm) and its data.
local function fixture_classifier()
  local m = small_cnn()
  m:load_weights(fixtures .. "smallcnn_c1_28x28_k10_s2.weights.safetensors")
  m:eval()
  return m, smia.io.load(fixtures .. "smallcnn_c1_28x28_k10_s2.expected.safetensors")
end

local classifier = H.random_classifier

-- A random 3-class segmenter, with its own clean predictions as labels.
local function segmenter()
  smia.seed(1)
  local m = nn.Sequential{nn.Conv2d{1, 8, 3, padding = 1}, nn.ReLU(), nn.Conv2d{8, 3, 3, padding = 1}}:eval()
  local x = T.rand({4, 1, 16, 16}, 2)
  return m, x, m(x):argmax(2)
end

-- At least 99.9% of values within 1e-5 and all within `tol` (sign gradients amplify rounding
-- where a gradient is near zero), as the Swift fixture tests.
local function reproduces(got, want, tol, what)
  H.same(got:shape(), want:shape(), what .. " shape")
  local d = (got - want):abs()
  local far = d:gt(1e-5):sum():item()
  assert(far <= 0.001 * d:numel(), ("%s: %d of %d values differ"):format(what, far, d:numel()))
  assert(d:max():item() <= tol + 1e-5, ("%s: a value differs by %.3g"):format(what, d:max():item()))
end

local tests = {}

function tests.every_classification_attack_lowers_accuracy()
  local m, x, y = classifier()
  local eps = 8 / 255
  local attacks = {
    A.fgsm{}, A.bim{}, A.pgd{}, A.pgd{norm = "l2"}, A.mifgsm{}, A.smia{}, A.dev{}, A.deepfool{}, A.cw{},
    A.apgd{steps = 20},
    A.iterative{loss = function(ctx) return nn.cross_entropy(ctx.output, ctx.y) end},
  }
  for _, a in ipairs(attacks) do
    local x_adv, s = a:run(m, x, y)
    local what = tostring(a)
    H.same(x_adv:shape(), x:shape(), what)
    H.eq(s.clean_accuracy, 1, what .. " clean accuracy")
    assert(s.accuracy < 1, what .. ": accuracy not lowered")
    assert(x_adv:min():item() >= 0 and x_adv:max():item() <= 1, what .. ": outside [0, 1]")
    if not what:match("l2") and not what:match("deepfool") and not what:match("cw") then
      assert(s.linf <= eps + 1e-6, what .. ": outside the L∞ ball")
    end
  end
end

function tests.dag_lowers_pixel_accuracy()
  local m, x, y = segmenter()
  local x_adv, s = A.dag{steps = 50}:run(m, x, y)
  H.eq(s.task, "segmentation")
  H.eq(s.clean_pixel_accuracy, 1)
  assert(s.pixel_accuracy < 0.99, "pixel accuracy " .. s.pixel_accuracy)
  H.same(x_adv:shape(), x:shape())
  -- The gradient attacks take segmenters too (per-pixel cross-entropy), task inferred.
  local _, s2 = A.pgd{eps = 16 / 255}:run(m, x, y)
  assert(s2.pixel_accuracy < 1 and s2.task == "segmentation")
end

function tests.detector_attacks_lower_map50()
  local det = H.square_detector()
  local x, boxes = H.squares(8, 999)
  local budget = {eps = 32 / 255, step = 8 / 255, steps = 10}
  local clean
  for _, name in ipairs{"fgsm", "bim", "pgd", "mifgsm", "smia", "dev"} do
    local a = A[name](name == "fgsm" and {eps = 32 / 255} or budget)
    local x_adv, s = a:run(det, x, boxes)
    H.eq(s.task, "detection", name)
    clean = clean or s.clean_map50
    assert(clean > 0.6, "the detector finds the squares: clean mAP " .. clean)
    H.eq(s.clean_map50, clean, name .. " clean_map50")
    assert(s.map50 < clean, ("%s: map50 %g, clean %g"):format(name, s.map50, clean))
    assert(s.iou <= s.clean_iou and s.recall <= s.clean_recall, name .. ": iou and recall fall")
    assert(s.linf <= 32 / 255 + 1e-6 and s.success_rate >= 0 and s.sample_recall:numel() == 8, name)
    H.same(x_adv:shape(), x:shape())
    -- success_rate: images none of whose boxes is found any more, as the decoder sees them.
    local found, hidden = det:decode(det(x_adv)), 0
    for i = 1, 8 do
      local seen = false
      for _, d in ipairs(found[i]) do
        if d.class == boxes[i][1][5] and smia.metrics.box_iou(d, boxes[i][1]) >= 0.5 then seen = true end
      end
      if not seen then hidden = hidden + 1 end
    end
    H.near(s.success_rate, hidden / 8, 1e-9, name .. " success_rate")
  end
  local _, pgd = A.pgd(budget):run(det, x, boxes)
  assert(pgd.map50 < clean - 0.3, "pgd: map50 " .. pgd.map50)
  local _, smia_stats = A.smia(budget):run(det, x, boxes)
  assert(smia_stats.map50 < clean - 0.3, "smia: map50 " .. smia_stats.map50)
  -- SMIA's options on a detector: detached target, last-step smoothing. A hard target may
  -- stall the attack (its stabilization term cancels the deviation wherever the smoothed
  -- image keeps the true boxes, and the sign of a zero gradient is 0); whether it does depends
  -- on the detector, which the training above makes slightly differently on each BLAS kernel.
  for _, o in ipairs{{hard_target = true}, {detach_target = true}, {smooth = "last_step"}} do
    for k, v in pairs(budget) do o[k] = v end
    local _, s = A.smia(o):run(det, x, boxes)
    if o.hard_target then
      assert(s.map50 <= clean, "smia with a hard target: map50 " .. s.map50)
    else
      assert(s.map50 < clean, "smia with options: map50 " .. s.map50)
    end
  end
  local _, s = A.apgd{eps = 32 / 255, steps = 10}:run(det, x, boxes)
  assert(s.map50 < clean - 0.3, "apgd: map50 " .. s.map50)
  -- DAG on the detector's cells, and a Lua loss that sees the boxes.
  local _, d = A.dag{steps = 60, gamma = 4 / 255}:run(det, x, boxes)
  H.eq(d.task, "detection")
  assert(d.map50 < clean - 0.3, "dag: map50 " .. d.map50)
  local seen
  local it = A.iterative{eps = 32 / 255, step = 8 / 255, steps = 3, loss = function(ctx)
    seen = ctx.boxes
    H.same(ctx.y:shape(), {8, 1, 5})
    return det:loss(ctx.output, ctx.boxes)
  end}
  local _, s3 = it:run(det, x, boxes)
  H.eq(#seen, 8)
  H.eq(seen[2][1][3], boxes[2][1][3])
  assert(s3.map50 < clean, "iterative with the detector's loss")
end

function tests.detector_bad_calls()
  local det = H.square_detector()
  local x, boxes = H.squares(3, 7)
  local a = A.pgd{steps = 1}
  H.raises(function() a:run(det, x, T.zeros{3}) end,
    "bad argument #3 to 'run' (list of boxes per image expected for a detector", "got tensor")
  H.raises(function() a:run(det, x, {boxes[1], boxes[2]}) end, "bad argument #3 to 'run' (expected 3 lists of boxes (one per image), got 2)")
  H.raises(function() a:run(det, x, {boxes[1], boxes[2], {{1, 2, 3}}}) end, "bad argument #3 to 'run'", "box 1 of image 3", "y2 must be a finite number")
  H.raises(function() a:run(det, x, {boxes[1], boxes[2], 5}) end, "bad argument #3 to 'run'", "got a number for image 3")
  H.raises(function() a:run(det, x, 5) end, "bad argument #3 to 'run' (list of boxes per image expected for a detector", "got number")
  H.raises(function() a:run(det, x, {boxes[1], boxes[2], {{0, 0, 4, 4, 7}}}) end, "pgd", "box 1 of image 3 has class 7", "0..1")
  H.raises(function() A.pgd{target = T.zeros{3}}:run(det, x, boxes) end, "pgd: targeted attacks are not defined for detection")
  H.raises(function() A.apgd{loss = "dlr"}:run(det, x, boxes) end, "apgd", "dlr", "loss = 'ce'")
  H.raises(function() A.dag{ignore_index = 0}:run(det, x, boxes) end, "dag: ignore_index does not apply to a detector")
  H.raises(function() A.deepfool{}:run(det, x, boxes) end, "bad argument #3 to 'run' (labels expected as a tensor: class indices (N) for a classifier", "got table)")
  -- A classifier given boxes: detection is inferred from the boxes, and the output does not fit.
  local m = nn.Sequential{nn.Flatten(), nn.Linear{1024, 2}}
  H.raises(function() a:run(m, x, boxes) end, "pgd: a detector must output its heads concatenated")
  -- The host still attacks the detector after all of these.
  local _, s = a:run(det, x, boxes)
  H.eq(s.task, "detection")
end

function tests.fixtures_fgsm_pgd_smia_dev()
  for _, name in ipairs{"smallcnn_c1_28x28_k10_s2", "resnet18_c3_64x64_k5_s1"} do
    local m = name:match("^resnet") and smia.models.resnet18{num_classes = 5, in_channels = 3} or small_cnn()
    m:load_weights(fixtures .. name .. ".weights.safetensors")
    m:eval()
    local e = smia.io.load(fixtures .. name .. ".expected.safetensors")
    local eps, step = 8 / 255, 2 / 255
    reproduces(A.fgsm{eps = eps}:run(m, e.x, e.y), e.fgsm, 2 * eps, name .. " fgsm")
    reproduces(A.pgd{eps = eps, step = step, steps = 5, random_start = false}:run(m, e.x, e.y), e.pgd, step, name .. " pgd")
    -- One sign flip at one iteration puts a value 2 steps away (see FixtureAttackTests).
    reproduces(A.smia{eps = eps, step = step, steps = 5}:run(m, e.x, e.y), e.smia, 2 * step, name .. " smia")
    reproduces(A.dev{eps = eps, step = step, steps = 5}:run(m, e.x, e.y), e.dev, step, name .. " dev")
  end
end

function tests.stats_keys_and_values()
  local m, x, y = classifier()
  local n, steps, eps = 16, 5, 8 / 255
  local x_adv, s = A.pgd{steps = steps, record = true}:run(m, x, y)
  for _, key in ipairs{"success_rate", "clean_accuracy", "accuracy", "linf", "l2", "l0", "var", "cos_mean",
                       "cos_positive", "psnr", "ssim", "seconds", "seconds_per_image"} do
    H.eq(type(s[key]), "number", key)
  end
  H.eq(s.name, "pgd")
  H.eq(s.task, "classification")
  assert(s.success_rate > 0 and s.success_rate <= 1)
  H.near(s.accuracy + s.success_rate, 1, 1e-6, "untargeted, all clean-correct: accuracy + success")
  H.same(s.success:shape(), {n})
  H.near(s.success:mean():item(), s.success_rate, 1e-6, "success tensor")
  H.eq(s.success:eq(0):add(s.success:eq(1)):sum():item(), n, "success is 0/1")
  H.close(s.success, m(x_adv):argmax(2):ne(y), 0, "success = changed prediction")
  H.near(s.linf, eps, 1e-6, "PGD reaches the ball's edge")
  H.near(s.l2, (x_adv - x):norm(2):mean():item(), 1e-5, "l2")
  H.near(s.var, (x_adv - x):flatten(2):var(2, false):mean():item(), 1e-5, "var")
  assert(s.l0 > 0 and s.l0 <= 16 * 16)
  assert(s.cos_mean >= -1 and s.cos_mean <= 1 and s.cos_positive >= 0 and s.cos_positive <= 1)
  assert(s.psnr > 20 and s.psnr < 100, "psnr " .. s.psnr)
  assert(s.ssim > 0.5 and s.ssim <= 1, "ssim " .. s.ssim)
  -- The attack's own work, in images: a forward and a gradient per step, one forward to score.
  H.eq(s.gradients, n * steps)
  H.eq(s.forwards, n * steps + n)
  H.near(s.seconds_per_image, s.seconds / n, 1e-9)
  H.eq(#s.losses, steps)
  H.eq(#s.updates, steps)
  H.close(s.sample_linf, (x_adv - x):norm(math.huge), 1e-6, "sample_linf")
  H.same(s.sample_accuracy:shape(), {n})
  -- SMIA's target pass is counted: one more forward per step from the second.
  local _, s2 = A.smia{steps = steps}:run(m, x, y)
  H.eq(s2.forwards, n * steps + n * (steps - 1) + n)
  H.eq(s2.cos_mean, nil, "no Cos without record")
end

function tests.targeted_mask_and_per_sample_eps()
  local m, x, y = classifier()
  local target = (y + 1) - (y + 1):ge(4) * 4
  local x_adv, s = A.pgd{target = target}:run(m, x, y)
  H.close(s.success, m(x_adv):argmax(2):eq(target), 0, "targeted success = reaching the target")
  assert(s.success_rate > 0, "targeted success " .. s.success_rate)
  H.near(s.accuracy, m(x_adv):argmax(2):eq(y):mean():item(), 1e-6, "accuracy against the ground truth")
  -- A mask: only the left half may change.
  local mask = T.cat({T.ones{1, 1, 16, 8}, T.zeros{1, 1, 16, 8}}, 4)
  local masked = A.pgd{mask = mask}:run(m, x, y)
  H.eq((masked - x):narrow(4, 9, 8):abs():max():item(), 0, "right half unchanged")
  assert((masked - x):narrow(4, 1, 8):abs():max():item() > 0)
  -- Per-sample eps: the first image stays clean.
  local radii = T.full({16}, 8 / 255)
  radii[1] = 0
  local _, s3 = A.bim{eps = radii, step = 1 / 255}:run(m, x, y)
  H.eq(s3.sample_linf[1], 0)
  assert((s3.sample_linf - radii):max():item() <= 1e-6)
end

function tests.step_function_on_step_and_early_stop()
  local m, x, y = classifier()
  local _, s = A.bim{steps = 1, step = function(i) return 3 / 255 end}:run(m, x, y)
  H.near(s.linf, 3 / 255, 1e-6, "step from the function")
  local seen = {}
  local _, s2 = A.pgd{steps = 10, on_step = function(info)
    assert(math.type(info.iteration) == "integer" and type(info.loss) == "number")
    assert(info.success >= 0 and info.success <= 1 and smia.is_tensor(info.x_adv))
    seen[#seen + 1] = info.iteration
    return info.iteration < 3
  end}:run(m, x, y)
  H.same(seen, {1, 2, 3}, "on_step iterations")
  H.eq(#s2.losses, 3, "on_step returning false stops the run")
  -- Early stop leaves an image alone once it is misclassified: its L∞ stops growing.
  local _, free = A.bim{steps = 10, step = 1 / 255, eps = 1}:run(m, x, y)
  local _, stopped = A.bim{steps = 10, step = 1 / 255, eps = 1, early_stop = true}:run(m, x, y)
  H.eq(stopped.success_rate, free.success_rate)
  assert(stopped.success_rate > 0 and stopped.linf < free.linf, "early stop did not stop")
end

function tests.iterative_context_state_and_per_sample_loss()
  local m, x, y = classifier()
  local counts = {}
  local a = A.iterative{steps = 4, eps = 4 / 255, loss = function(ctx)
    assert(smia.is_module(ctx.model) and smia.is_tensor(ctx.x) and smia.is_tensor(ctx.x_adv))
    assert(ctx.x_adv:requires_grad() and math.abs(ctx.eps - 4 / 255) < 1e-9 and ctx.task == "classification")
    H.close(ctx.y, y, 0, "ctx.y")
    ctx.state.n = (ctx.state.n or 0) + 1
    counts[#counts + 1] = ctx.state.n
    H.eq(ctx.iteration, ctx.state.n, "state kept across iterations")
    return nn.cross_entropy(ctx.model(ctx.x_adv), ctx.y, "none")
  end}
  local x1 = a:run(m, x, y)
  H.same(counts, {1, 2, 3, 4})
  -- Per-sample losses summed; the sign step is the same as the mean's.
  local x2 = A.bim{steps = 4, eps = 4 / 255}:run(m, x, y)
  H.close(x1, x2, 0, "per-sample losses")
  -- A second run starts with a fresh state.
  a:run(m, x, y)
  H.same(counts, {1, 2, 3, 4, 1, 2, 3, 4})
end

function tests.iterative_equals_builtin_pgd_and_a_function_model()
  local m, x, y = classifier()
  local ce = function(ctx) return nn.cross_entropy(ctx.output, ctx.y) end
  local builtin = A.pgd{steps = 5, random_start = false}:run(m, x, y)
  H.close(A.iterative{loss = ce, steps = 5}:run(m, x, y), builtin, 0, "iterative = pgd")
  local calls = 0
  local x_fn, s = A.pgd{steps = 5, random_start = false}:run(function(x) calls = calls + 1; return m(x) end, x, y)
  H.close(x_fn, builtin, 0, "a function as the model")
  assert(calls >= 5 and s.accuracy < 1)
end

-- An attack's model passes: one per step (SMIA's target images ride in the same batch), the
-- first shared with the clean images' pass when the attack starts from them, and one that
-- scores the result; an attack that does not start from the clean images (a random start,
-- C&W's tanh space) runs them in that last pass, in one batch with its result. (DeepFool and
-- DAG start from them and drop finished images, so only their pass counts are fixed.)
function tests.an_attack_costs_its_steps_and_one_more_pass()
  local m, x, y = classifier()
  local calls, images = 0, 0
  local counted = function(input) calls, images = calls + 1, images + input:shape()[1]; return m(input) end
  for _, case in ipairs{{"fgsm", A.fgsm{}, 2}, {"pgd", A.pgd{steps = 5, random_start = false}, 6},
                        {"smia", A.smia{steps = 4}, 5}, {"dev", A.dev{steps = 3}, 4},
                        {"lua loss", A.iterative{steps = 3, loss = function(ctx) return nn.cross_entropy(ctx.output, ctx.y) end}, 4},
                        {"pgd from a random start", A.pgd{steps = 5}, 6, 16 * 7},
                        {"apgd", A.apgd{steps = 5}, 6, 16 * 7}, {"cw", A.cw{steps = 5}, 6, 16 * 7},
                        {"deepfool", A.deepfool{steps = 5}, nil, nil}} do
    calls, images = 0, 0
    local _, s = case[2]:run(counted, x, y)
    if case[3] then H.eq(calls, case[3], case[1] .. " model passes") end
    if case[4] then H.eq(images, case[4], case[1] .. " images through the model") end
    assert(s.accuracy <= 1, case[1])
  end
  -- DeepFool starts from the clean images and drops those it has fooled: at most its steps
  -- over the batch, and the result once.
  assert(images <= 16 * 5 + 16, "deepfool: " .. images .. " images")
  -- DAG starts from the clean images: its first pass is theirs.
  local seg, xs, ys = segmenter()
  calls = 0
  local _, s = A.dag{steps = 5}:run(function(v) calls = calls + 1; return seg(v) end, xs, ys)
  H.eq(calls, #s.losses + 1, "dag: a pass per iteration and one to score")
  H.eq(s.clean_pixel_accuracy, 1, "dag: clean figures from its first pass")
end

function tests.lua_smia_and_dag_give_the_builtin_images()
  local smia_lua = dofile(root .. "scripts/attacks/smia.lua")
  local dag_lua = dofile(root .. "scripts/attacks/dag.lua")
  local m, x, y = classifier()
  for _, o in ipairs{{}, {alpha = 0.5, kernel_size = 3, sigma = 2, steps = 6}, {alpha = 0}} do
    H.close(smia_lua(o):run(m, x, y), A.smia(o):run(m, x, y), 0, "smia.lua")
  end
  -- DAG: the same gradients (the same seed through the same model), but not the same float
  -- operations per step. The built-in adds g·(γ/||g||∞) to x̃ and clips (one rounding of a
  -- value in [0, 1]); the engine adds (g/||g||∞)·γ, projects through ((x̃ + step) − x) + x and
  -- clips (three), and keeps finished images in the batch, where that round trip may move them
  -- by a rounding. So the two images drift apart by at most 4 roundings of a value below 1,
  -- 4·2⁻²⁴, per step, whatever the CPU: 200 steps allow 4.8e-5, 40 times less than one step γ.
  local seg, x, y = segmenter()
  for _, steps in ipairs{20, 200} do
    local x1, s1 = dag_lua{steps = steps}:run(seg, x, y)
    local x2, s2 = A.dag{steps = steps}:run(seg, x, y)
    local bound = steps * 4 * 2 ^ -24
    local differs = (x1 - x2):abs():max():item()
    assert(differs <= bound, ("dag.lua differs by %g after %d steps, more than %g"):format(differs, steps, bound))
    H.eq(s1.pixel_accuracy, s2.pixel_accuracy)
  end
end

function tests.training_mode_is_restored_and_running_statistics_kept()
  local m, e = fixture_classifier()
  local mean = m[2].running_mean:clone()
  m:train()
  local _, s = A.pgd{steps = 2}:run(m, e.x, e.y)
  assert(m:is_training(), "training mode restored")
  H.close(m[2].running_mean, mean, 0, "running statistics unchanged")
  H.eq(s.clean_accuracy, 1, "attacked in eval mode")
  m:eval()
end

function tests.bad_options_are_clear_errors()
  local m, x, y = classifier()
  H.raises(function() A.pgd{eps = -1} end, "bad argument #1 to 'pgd'", "option 'eps': must be >= 0, got -1")
  H.raises(function() A.pgd{steps = 0} end, "option 'steps': must be at least 1, got 0")
  H.raises(function() A.pgd{epss = 1} end, "unknown option 'epss'")
  H.raises(function() A.smia{step = -1} end, "option 'step': must be > 0")
  H.raises(function() A.smia{kernel_size = 4} end, "kernel_size must be a positive odd number")
  H.raises(function() A.pgd{norm = "l3"} end, "option 'norm': expected 'linf' or 'l2', got 'l3'")
  H.raises(function() A.pgd{eps = 0 / 0} end, "option 'eps'")
  H.raises(function() A.pgd{targeted = true} end, "'targeted' needs the 'target' labels")
  H.raises(function() A.iterative{loss = 3} end, "option 'loss': function expected, got number")
  H.raises(function() A.iterative{} end, "option 'loss' is required")
  H.raises(function() A.pgd{eps = T.zeros{2, 2}} end, "one value per sample")
  local a = A.pgd{steps = 2}
  H.raises(function() a:run(42, x, y) end, "bad argument #1 to 'run' (module or function expected, got number)")
  H.raises(function() a:run(m, x, T.zeros{3}) end, "bad argument #3 to 'run'", "labels for 16 images")
  H.raises(function() a:run(m, x, T.zeros{16, 2}) end, "expected labels of size 16")
  H.raises(function() a:run(m, x, y + 20) end, "class indices in 0..3")
  H.raises(function() a:run(function(x) return m(x):reshape{16, 2, 2} end, x, y) end,
    "pgd: a classifier must output (N, K) logits, got size 16x2x2")
  H.raises(function() a:run(m, x, T.zeros{16, 2}) end, "bad argument #3 to 'run'",
    "expected labels of size 16 (class indices, for a classifier) or 16xHxW (a class per pixel, for a segmenter), got 16x2")
  H.raises(function() a:run(function(x) return 1 end, x, y) end, "the model function must return a tensor, got number")
  H.raises(function() A.deepfool{}:run(segmenter()) end, "a classifier must output (N, K) logits")
  local nan = x:clone()
  nan[{1, 1, 1, 1}] = 0 / 0
  H.raises(function() a:run(m, nan, y) end, "bad argument #2 to 'run' (the images contain NaN")
  H.raises(function() A.iterative{loss = function(ctx) return ctx.output end}:run(m, x, y) end,
    "must return a scalar tensor or one loss per sample (size 16), got size 16x4")
  H.raises(function() A.iterative{loss = function(ctx) return "x" end}:run(m, x, y) end,
    "must return a tensor, got string")
  H.raises(function() A.iterative{loss = function(ctx) return ctx.output:detach():sum() end}:run(m, x, y) end,
    "does not depend on ctx.x_adv")
  H.raises(function() A.bim{step = function(i) return -i end}:run(m, x, y) end,
    "step function must return a positive number, got -1")
  -- The host still runs attacks after all of these.
  local _, s = a:run(m, x, y)
  assert(s.accuracy < 1)
end

function tests.lua_error_in_the_loss_has_a_traceback_and_leaves_no_state()
  local m, x, y = classifier()
  m:train()
  local kept
  local function fails(ctx)
    kept = ctx.model
    if ctx.iteration == 2 then error("loss exploded") end
    return nn.cross_entropy(ctx.output, ctx.y)
  end
  local err = H.raises(function() A.iterative{loss = fails}:run(m, x, y) end, "loss exploded", "stack traceback:",
    "test_attack.lua:")
  assert(m:is_training(), "training mode restored after an error")
  H.raises(function() kept(x) end, "ctx.model was used after its attack run finished")
  -- Recording still works: an ordinary gradient right after.
  local g = smia.autograd.grad(function(x) return nn.cross_entropy(m(x), y) end)(x)
  assert(g:abs():sum():item() > 0, err)
  m:eval()
  -- An error object that is not a string comes out unchanged.
  local ok, obj = pcall(function() A.iterative{loss = function() error({code = 7}) end}:run(m, x, y) end)
  assert(not ok and type(obj) == "table" and obj.code == 7)
end

function tests.ctrl_c_stops_a_long_native_attack()
  -- A child host runs a long attack with no Lua code in its loop; a background shell sends it
  -- SIGINT every half second until it is gone. The engine's poll must stop the run at the
  -- first one; the chunk then stops with "interrupted!" as for any Ctrl-C. Without the poll,
  -- the third SIGINT kills the host after its "press Ctrl-C again" warning (so a failure
  -- cannot hang).
  -- The interpreter running these tests, or (inside the Swift suite, which has none) the
  -- release build's host.
  local lowest = 0
  while arg and arg[lowest - 1] ~= nil do lowest = lowest - 1 end
  local host = lowest < 0 and arg[lowest] or root .. ".build/release/smia-lua"
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write([[
local T, nn = smia.tensor, smia.nn
local m = nn.Sequential{nn.Flatten(), nn.Linear{4, 3}}:eval()
local x, y = T.rand({2, 1, 2, 2}, 1), T.from{0, 1}
local s = assert(io.open("/proc/self/stat"))
local pid = s:read("n")
s:close()
os.execute("(for i in 1 2 3 4 5 6; do sleep 0.5; kill -INT " .. pid .. " || exit 0; done) >/dev/null 2>&1 &")
smia.attack.pgd{steps = 1000000000}:run(m, x, y)
]])
  f:close()
  local p = io.popen("'" .. host .. "' " .. script .. " 2>&1")
  local out = p:read("a")
  p:close()
  os.remove(script)
  assert(out:find("interrupted!", 1, true) and not out:find("still running", 1, true), "output: " .. out)
end


-- smia.eval runs the clean images once per batch and hands their output to every attack:
-- an attack from a random start then skips its own clean pass, with the same report, and
-- its stats.output gives the predictions without another pass.
function tests.clean_output_given_is_used_and_output_returned()
  local m, x, y = classifier()
  local passes = 0
  local function counted(v) passes = passes + v:shape()[1]; return m(v) end
  local a = A.pgd{steps = 2, seed = 3}
  local x1, s1 = a:run(counted, x, y)
  local alone = passes
  passes = 0
  local clean = smia.no_grad(function() return m(x) end)
  local x2, s2 = a:run(counted, x, y, {clean_output = clean})
  H.eq(passes, alone - 16, "one clean pass of the 16 images fewer")
  H.close(x2, x1, 0, "same adversarial images")
  for _, key in ipairs{"clean_accuracy", "accuracy", "clean_correct", "success_rate"} do H.eq(s2[key], s1[key], key) end
  H.close(s2.output, smia.no_grad(function() return m(x2) end), 1e-6, "stats.output is the model on x_adv")
  H.raises(function() a:run(m, x, y, {clean_output = T.zeros{3, 4}}) end,
           "bad argument #4 to 'run'", "clean_output must be the model's output on the 16 images, got size 3x4")
  H.raises(function() a:run(m, x, y, {clean = clean}) end, "unknown option 'clean'")
  H.raises(function() a:run(m, x, y, {clean_output = T.full({16, 4}, 0 / 0)}) end,
           "bad argument #4 to 'run'", "clean_output contains NaN or infinite values")
  H.raises(function() a:run(m, T.zeros{}, T.zeros{1}, {clean_output = T.zeros{1}}) end,
           "bad argument #2 to 'run'", "expected images of size (N, C, H, W) with N >= 1, got")
  H.raises(function() a:run(m, x, y, {clean_output = T.zeros{16, 5}}) end,
           "bad argument #4 to 'run'", "clean_output must be the model's output on the 16 images, of size 16x4, got 16x5")
  -- A detector's clean output may be the table of heads it returns; its decoder reads the
  -- concatenated heads of stats.output as well.
  local det = H.square_detector()
  local xd, boxes = H.squares(4, 3)
  local heads = smia.no_grad(function() return det(xd) end)
  local d1, r1 = a:run(det, xd, boxes)
  local d2, r2 = a:run(det, xd, boxes, {clean_output = heads})
  H.close(d2, d1, 0, "detector: same adversarial images")
  for _, key in ipairs{"clean_map50", "map50", "clean_recall", "recall", "success_rate"} do H.eq(r2[key], r1[key], key) end
  local after = smia.no_grad(function() return det(d2) end)
  H.close(r2.output, T.cat({after.heatmap, after.size, after.offset}, 2), 1e-6, "stats.output: the heads on x_adv")
  H.eq(#det:decode(r2.output), 4, "decoded from stats.output")
  H.raises(function() a:run(det, xd, boxes, {clean_output = {heatmap = heads.heatmap}}) end,
           "bad argument #4 to 'run'", "option 'clean_output': field 'size': tensor expected, got nil")
  H.raises(function() a:run(det, xd, boxes, {clean_output = {heatmap = heads.heatmap, size = heads.size, offset = T.zeros{4, 2, 1, 1}}}) end,
           "bad argument #4 to 'run'", "option 'clean_output': detector heads: expected size and offset of size 4x2x8x8")
end

return tests
