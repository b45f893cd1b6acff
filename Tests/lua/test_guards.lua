-- Guard rails a researcher new to the project relies on: modes as in PyTorch (attacks and
-- smia.eval in eval mode, the mode given back), success_rate over the images the model got
-- right, clear errors for silent misuse (a loss not built from ctx.x_adv, images outside
-- [0, 1], an L∞ eps in 0-255 units, labels of the wrong form, unknown options), lenient weight
-- loading, and arithmetic in the main job's numeric options.
local T, nn, A = smia.tensor, smia.nn, smia.attack
local dir = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
local H = dofile(dir .. "/helpers.lua")

-- A classifier with batch norm whose running statistics differ from any batch's, so training
-- and eval mode give different outputs.
local function batch_norm_classifier()
  smia.seed(7)
  local m = nn.Sequential{nn.Conv2d{3, 8, 3, padding = 1}, nn.BatchNorm2d{8}, nn.ReLU(), nn.AdaptiveAvgPool2d{1},
                          nn.Flatten(), nn.Linear{8, 5}}
  m[2].running_mean:copy_(T.rand({8}, 3) - 0.5)
  m[2].running_var:copy_(T.rand({8}, 4) * 3 + 0.2)
  return m
end

local classifier = H.random_classifier

local tests = {}

function tests.training_is_a_boolean_that_follows_the_mode()
  local m = batch_norm_classifier()
  H.eq(m.training, true, "a new module trains, as in PyTorch")
  m:eval()
  H.eq(m.training, false)
  H.eq(m[2].training, false, "children follow")
  m:train()
  H.eq(m[2].training, true)
end

function tests.eval_runs_the_model_in_eval_mode_and_gives_the_mode_back()
  local ds = smia.data.fundus{split = "val", n = 6, size = 16}
  local attacks = function() return {{"fgsm", A.fgsm{eps = 2 / 255}}} end
  local trained = batch_norm_classifier()
  local mean = trained[2].running_mean:clone()
  local rows_training = smia.eval{model = trained, data = ds, attacks = attacks(), progress = false}
  H.eq(trained.training, true, "training mode given back")
  H.close(trained[2].running_mean, mean, 0, "running statistics untouched")
  local evaluated = batch_norm_classifier():eval()
  local rows_eval = smia.eval{model = evaluated, data = ds, attacks = attacks(), progress = false}
  H.eq(evaluated.training, false)
  for i = 1, 2 do H.eq(rows_training[i].accuracy, rows_eval[i].accuracy, "row " .. i) end
  -- The eval-mode figures are not those of training mode (the test would not tell otherwise).
  local all = ds:batch{1, 2, 3, 4, 5, 6}
  local in_eval = evaluated(all.x)
  local in_training = batch_norm_classifier()(all.x)
  assert((in_eval - in_training):abs():max():item() > 1e-3, "the two modes must differ on this model")
  -- An error inside gives the mode back too.
  H.raises(function()
    smia.eval{model = trained, data = ds, progress = false, attacks = {{"bad", A.iterative{loss = function() error("inside") end}}}}
  end, "inside")
  H.eq(trained.training, true, "mode given back after an error")
end

function tests.success_rate_counts_the_images_the_model_got_right()
  local m, x, y = classifier()
  -- Four labels changed: the model is wrong on those images before any attack.
  local labels = y:clone()
  for i = 1, 4 do labels[i] = (labels[i] + 1) % 4 end
  local _, s = A.pgd{eps = 4 / 255, steps = 3}:run(m, x, labels)
  H.eq(s.clean_correct, 12)
  H.near(s.clean_accuracy, 12 / 16, 1e-6)
  local succeeded = 0
  for i = 5, 16 do succeeded = succeeded + s.success[i] end
  H.near(s.success_rate, succeeded / 12, 1e-6, "success over the 12 clean-correct images")
  assert(s.success_rate > 0 and s.success_rate < 1, "a rate that tells the conventions apart: " .. s.success_rate)
  -- Beside it, the accuracy on the adversarial images over all 16.
  local adv_correct = 0
  for i = 1, 16 do adv_correct = adv_correct + s.sample_accuracy[i] end
  H.near(s.accuracy, adv_correct / 16, 1e-6)
  -- No image right before the attack: no rate.
  local wrong = y:clone()
  for i = 1, 16 do wrong[i] = (y[i] + 1) % 4 end
  local _, none = A.fgsm{eps = 1 / 255}:run(m, x, wrong)
  H.eq(none.clean_correct, 0)
  H.eq(none.success_rate, nil)
end

function tests.eval_weighs_success_rate_by_the_clean_correct_images()
  local ds = smia.data.fundus{split = "val", n = 9, size = 16}
  local m = batch_norm_classifier():eval()
  local fgsm = A.fgsm{eps = 8 / 255}
  local rows = smia.eval{model = m, data = ds, batch_size = 4, progress = false, attacks = {{"fgsm", fgsm}}}
  local all = ds:batch{1, 2, 3, 4, 5, 6, 7, 8, 9}
  local _, s = fgsm:run(m, all.x, all.y)
  if s.success_rate then
    H.near(rows[2].success_rate, s.success_rate, 1e-6, "batches pooled as one run")
  else
    H.eq(rows[2].success_rate, nil)
  end
end

function tests.a_loss_not_built_from_x_adv_is_an_error()
  local m, x, y = classifier()
  local from_clean = A.iterative{steps = 2, loss = function(ctx) return nn.cross_entropy(ctx.model(ctx.x), ctx.y) end}
  H.raises(function() from_clean:run(m, x, y) end, "the loss does not depend on ctx.x_adv", "not from ctx.x")
  local constant = A.iterative{steps = 2, loss = function() return T.from(1) end}
  H.raises(function() constant:run(m, x, y) end, "does not depend on ctx.x_adv")
  local fine = A.iterative{steps = 2, loss = function(ctx) return nn.cross_entropy(ctx.model(ctx.x_adv), ctx.y) end}
  local x_adv = fine:run(m, x, y)
  assert((x_adv - x):abs():max():item() > 0, "a proper loss moves the images")
end

function tests.images_outside_the_range_are_an_error()
  local m, x, y = classifier()
  H.raises(function() A.pgd{steps = 1}:run(m, x * 255, y) end, "values in [0, 1]", "need x / 255")
  H.raises(function() A.fgsm{}:run(m, x - 0.5, y) end, "values in [0, 1]", "normalized")
  H.raises(function() A.deepfool{steps = 1}:run(m, x + 1, y) end, "values in [0, 1]")
end

function tests.a_bad_value_anywhere_in_the_images_is_found()
  -- The images are scanned sixteen values at a time, then the rest one by one: 25 values are a
  -- chunk and a tail of 9. A bad value in the chunk's first, middle or last lane or in the tail.
  -- (Both checks come before the model runs, so these images need not fit it.)
  local m = H.random_classifier()
  local clean, y = T.rand({1, 1, 5, 5}, 9) * 0.5 + 0.25, T.from{0}
  for _, flat in ipairs{1, 8, 16, 17, 21, 25} do
    local at = {1, 1, (flat - 1) // 5 + 1, (flat - 1) % 5 + 1}
    for _, bad in ipairs{0 / 0, math.huge, -math.huge} do
      local x = clean:clone()
      x[at] = bad
      H.raises(function() A.fgsm{}:run(m, x, y) end, "the images contain NaN or infinite values")
    end
    local x = clean:clone()
    x[at] = 1.5
    H.raises(function() A.fgsm{}:run(m, x, y) end, "values in [0, 1], got values from 0.", "to 1.5")
    x[at] = -0.25
    H.raises(function() A.fgsm{}:run(m, x, y) end, "values in [0, 1], got values from -0.25 to 0.")
  end
end

function tests.an_linf_radius_wider_than_the_range_is_an_error()
  H.raises(function() A.pgd{eps = 8} end, "option 'eps'", "larger than the images' range", "eps = 8 / 255")
  H.raises(function() A.fgsm{eps = 2} end, "option 'eps'")
  H.raises(function() A.smia{eps = 4} end, "option 'eps'")
  H.raises(function() A.apgd{eps = 8} end, "option 'eps'")
  H.raises(function() A.dag{eps = 8} end, "option 'eps'")
  H.raises(function() A.pgd{eps = T.from{0.1, 3}} end, "option 'eps'")
  -- L2 radii and unbounded projections are not L∞ radii.
  A.pgd{norm = "l2", eps = 3}
  A.apgd{norm = "l2", eps = 3}
  A.iterative{loss = function(ctx) return ctx.output:sum() end, projection = "l2", eps = 3}
  A.pgd{eps = 1}
end

function tests.labels_of_the_wrong_form_name_the_expected_one()
  local m, x = classifier()
  local list = {}
  for i = 1, 16 do list[i] = i % 4 end
  H.raises(function() A.pgd{steps = 1}:run(m, x, list) end, "class indices (N) for a classifier", "smia.tensor.from")
  H.raises(function() A.pgd{steps = 1}:run(m, x, "cat") end, "class indices (N) for a classifier", "got string")
end

function tests.unknown_options_are_errors()
  H.raises(function() A.fgsm{eps = 1 / 255, step = 1} end, "unknown option 'step'")
  H.raises(function() A.deepfool{eps = 1} end, "unknown option 'eps'")
  local m = nn.Sequential{nn.Linear{2, 2}}
  H.raises(function() m:load_weights("x.safetensors", {strikt = false}) end, "unknown option 'strikt'")
  local ds = smia.data.fundus{split = "val", n = 2, size = 16}
  H.raises(function() smia.eval{model = m, data = ds, attacks = {}, atacks = {}} end, "unknown option 'atacks'")
  H.raises(function() smia.report.figure(H.tmpdir() .. "/f.png", {{images = T.zeros{1, 1, 4, 4}, label = T.zeros{1}}}) end,
    "column 1: unknown field string 'label'", "expected images, labels, masks, boxes")
  H.raises(function() smia.autograd.grad(function(x) return x:sum() end, {argnum = 2}) end, "grad")
end

-- A module saved under a wrapper's names (PyTorch's DataParallel: "module." in front).
function tests.load_weights_strips_a_prefix_and_loads_leniently()
  local tmp = H.tmpdir()
  smia.seed(2)
  local source = nn.Sequential{nn.Linear{3, 4}, nn.ReLU(), nn.Linear{4, 2}}
  local wrapped = {}
  local state, names = source:state_dict()
  for _, name in ipairs(names) do wrapped["module." .. name] = state[name] end
  local path = tmp .. "/wrapped.safetensors"
  smia.io.save(path, wrapped)

  local target = nn.Sequential{nn.Linear{3, 4}, nn.ReLU(), nn.Linear{4, 2}}
  local err = H.raises(function() target:load_weights(path) end, "4 missing keys: 0.weight", "4 unexpected keys: module.0.bias",
    "every unexpected key starts with 'module.'", 'strip_prefix = "module."')
  assert(#err < 600, "a short message, got " .. #err .. " characters")
  local same, report = target:load_weights(path, {strip_prefix = "module."})
  assert(same == target, "returns the module")
  H.eq(report.loaded, 4)
  H.eq(report.summary, "")
  local x = T.rand({5, 3}, 1)
  H.close(target(x), source(x), 0, "the weights were loaded")

  -- Not strict: a different last layer; what fits is loaded, the rest reported.
  local other = nn.Sequential{nn.Linear{3, 4}, nn.ReLU(), nn.Linear{4, 7}}
  local before = other[3].weight:clone()
  local _, partial = other:load_weights(path, {strip_prefix = "module.", strict = false})
  H.eq(partial.loaded, 2)
  H.same(partial.mismatched, {"2.weight", "2.bias"})
  H.same(partial.missing, {})
  assert(partial.summary:find("2 size mismatch: 2.weight (expected 7x4, got 2x4)", 1, true), partial.summary)
  H.close(other[1].weight, source[1].weight, 0, "the fitting layer loaded")
  H.close(other[3].weight, before, 0, "the mismatched layer untouched")
  -- Many names: counts and a few examples, not every key.
  local big = smia.models.resnet18{num_classes = 3}
  local long = H.raises(function() big:load_weights(path) end, "missing keys:", "more)")
  assert(#long < 800, "a short message for a ResNet, got " .. #long .. " characters")
  H.rmdir(tmp)
end

function tests.numeric_options_take_arithmetic_not_code()
  local arithmetic = dofile(H.root .. "scripts/lib/arithmetic.lua")
  H.near(arithmetic.evaluate("8/255"), 8 / 255, 1e-15)
  H.near(arithmetic.evaluate(" 0.5 / 255 "), 0.5 / 255, 1e-15)
  H.near(arithmetic.evaluate("2*(1+1)/255"), 4 / 255, 1e-15)
  H.near(arithmetic.evaluate("-1e-3"), -1e-3, 1e-15)
  H.near(arithmetic.evaluate("1.5e2 - 3 * -2"), 156, 1e-12)
  H.eq(arithmetic.evaluate(".25"), 0.25)
  for _, bad in ipairs{"8/", "", "os.exit()", "(1", "1 2", "1/0", "0x10", "8//255"} do
    local v, problem = arithmetic.evaluate(bad)
    H.eq(v, nil, bad)
    assert(type(problem) == "string", bad)
  end
  -- The main job's parser reads --eps 8/255.
  local cli = dofile(H.root .. "scripts/lib/cli.lua")
  local o = cli.parse({"--eps", "8/255", "--steps", "3"}, {eps = cli.optional("number"), steps = 10}, "usage")
  H.near(o.eps, 8 / 255, 1e-15)
  H.eq(o.steps, 3)
end

return tests
