-- smia.eval: attacks over a dataset, rows that agree with running the attacks by hand.
local T, nn = smia.tensor, smia.nn
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local function classifier()
  smia.seed(3)
  return nn.Sequential{nn.Conv2d{3, 8, 3, padding = 1}, nn.ReLU(), nn.AdaptiveAvgPool2d{1}, nn.Flatten(), nn.Linear{8, 5}}
end

local tests = {}

function tests.rows_match_attacks_run_by_hand()
  local ds, m = smia.data.fundus{split = "val", n = 10, size = 32}, classifier()
  local fgsm = smia.attack.fgsm{eps = 4 / 255}
  local rows = smia.eval{model = m, data = ds, n = 7, batch_size = 3, fpr = true, progress = false, keep = 2,
                         attacks = {{"fgsm", fgsm}, {"dev", smia.attack.dev{steps = 3, record = true}}}}
  H.eq(#rows, 3)
  H.eq(rows[1].method, "clean")
  H.eq(rows[2].method, "fgsm")
  H.eq(rows[3].task, "fundus")
  local all = ds:batch{1, 2, 3, 4, 5, 6, 7}
  local clean = m(all.x):argmax(2)
  H.near(rows[1].accuracy, smia.metrics.accuracy(clean, all.y), 1e-12, "clean accuracy")
  -- FGSM is deterministic and per image: the same images whatever the batches.
  local x_adv, stats = fgsm:run(m, all.x, all.y)
  local adv = m(x_adv):argmax(2)
  H.near(rows[2].accuracy, smia.metrics.accuracy(adv, all.y), 1e-12, "fgsm accuracy")
  H.near(rows[2].linf, stats.linf, 1e-6, "fgsm linf")
  H.near(rows[2].l2, stats.l2, 1e-5, "fgsm l2")
  assert(rows[3].cos_mean and rows[3].cos_positive, "recorded attacks report Cos")
  assert(rows[2].cos_mean == nil, "FGSM without a record has no Cos")
  H.eq(rows[3].gradients, 3, "DEV: one gradient per step and image")
  H.same(rows.examples.x:shape(), {2, 3, 32, 32})
  H.same(rows.examples.methods[2].x_adv:shape(), {2, 3, 32, 32})
  H.eq(rows.examples.methods[1].name, "fgsm")
end

function tests.segmentation_rows()
  local ds = smia.data.ct_lung{split = "val", n = 3, size = 32}
  smia.seed(4)
  local m = nn.Sequential{nn.Conv2d{1, 3, 3, padding = 1}}
  local rows = smia.eval{model = m, data = ds, classes = {1, 2}, progress = false,
                         attacks = {{"pgd", smia.attack.pgd{steps = 2}}}}
  local all = ds:batch{1, 2, 3}
  H.near(rows[1].jaccard, smia.metrics.iou(m(all.x):argmax(2), all.y, {classes = {1, 2}}), 1e-12, "clean jaccard")
  assert(rows[2].pixel_accuracy and rows[2].dice, "segmentation metrics after attack")
end

function tests.bad_options()
  local ds, m = smia.data.fundus{split = "val", n = 2, size = 16}, classifier()
  local a = smia.attack.fgsm{}
  local cases = {
    {nil, "expected a table of options"},
    {{model = m, data = ds, attacks = {}, steps = 3}, "unknown option 'steps'"},
    {{model = 5, data = ds, attacks = {}}, "'model' must be a module or a function"},
    {{model = m, data = {}, attacks = {}}, "'data' must be a smia.data dataset"},
    {{model = m, data = ds, attacks = {a}}, "attacks[1] must be {name, attack}"},
    {{model = m, data = ds, attacks = {}, n = 0}, "'n' must be a positive integer"},
    {{model = m, data = ds, attacks = {}, batch_size = 1.5}, "'batch_size' must be a positive integer"},
    {{model = m, data = smia.data.endoscopy{n = 1}, attacks = {}}, "eval covers classification and segmentation"},
  }
  for i, case in ipairs(cases) do
    local ok, message = pcall(smia.eval, case[1])
    assert(not ok and tostring(message):find(case[2], 1, true), ("case %d: %s"):format(i, tostring(message)))
  end
end

return tests
