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

function tests.detection_rows()
  local ds = smia.data.endoscopy{split = "val", n = 3, size = 32}
  smia.seed(6)
  local det = smia.models.detector{in_channels = 3, num_classes = 5, width = 4}:eval()
  local threshold = 0.05
  local rows = smia.eval{model = det, data = ds, progress = false, keep = 2, batch_size = 2, threshold = threshold,
                         attacks = {{"pgd", smia.attack.pgd{steps = 2}}, {"dag", smia.attack.dag{steps = 3}}}}
  H.eq(#rows, 3)
  local all = ds:batch{1, 2, 3}
  local found = det:decode(det(all.x), {threshold = threshold})
  H.eq(rows[1].method, "clean")
  H.near(rows[1].map50, smia.metrics.map(found, all.y), 1e-12, "clean map50")
  H.near(rows[1].iou, smia.metrics.mean_box_iou(found, all.y), 1e-12, "clean iou")
  for i = 2, 3 do
    -- success_rate only when the detector found a true box on some clean image.
    assert(rows[i].map50 and rows[i].iou and rows[i].linf, rows[i].method)
    assert(rows[i].success_rate == nil or (rows[i].success_rate >= 0 and rows[i].success_rate <= 1), rows[i].method)
    assert(rows[i].accuracy == nil and rows[i].pixel_accuracy == nil)
  end
  -- Examples: the images kept, true and predicted boxes per image, ready for a figure.
  local ex = rows.examples
  H.same(ex.x:shape(), {2, 3, 32, 32})
  H.eq(#ex.y, 2)
  H.eq(#ex.predictions, 2)
  H.eq(ex.y[1][1][5], all.y[1][1][5])
  H.eq(#ex.methods[1].predictions, 2)
  local d = H.tmpdir()
  smia.report.figure(d .. "/det.png", {{images = ex.x, boxes = ex.y}, {images = ex.methods[1].x_adv, boxes = ex.methods[1].predictions}})
  H.eq(smia.image.read(d .. "/det.png"):shape()[1], 3, "an RGB figure")
  H.rmdir(d)
  -- The IoU figure as defined: per true box the best same-class IoU, 0 without one.
  local truths = {{{0, 0, 10, 10, 0}, {20, 20, 30, 30, 1}}}
  local dets = {{{0, 0, 10, 5, 0, 0.9}, {0, 0, 10, 10, 1, 0.8}}}
  H.near(smia.metrics.mean_box_iou(dets, truths), 0.25, 1e-6, "mean box iou")
end

function tests.detection_eval_lowers_map_of_a_trained_detector()
  -- The squares detector on its squares, saved as PNG files with a box list (smia.data.boxes).
  local det = H.square_detector()
  local x, boxes = H.squares(6, 999)
  local d = H.tmpdir()
  local csv = io.open(d .. "/boxes.csv", "w")
  for i = 1, 6 do
    smia.image.write(("%s/%d.png"):format(d, i), x[i])
    local b = boxes[i][1]
    csv:write(("%d.png,%d,%d,%d,%d,%d\n"):format(i, b[1], b[2], b[3], b[4], b[5]))
  end
  csv:close()
  local ds = smia.data.boxes{d .. "/boxes.csv", root = d, classes = 2, channels = 1}
  local budget = {eps = 32 / 255, step = 8 / 255, steps = 10}
  local rows = smia.eval{model = det, data = ds, progress = false, batch_size = 4,
                         attacks = {{"pgd", smia.attack.pgd(budget)}, {"smia", smia.attack.smia(budget)},
                                    {"dag", smia.attack.dag{steps = 60, gamma = 4 / 255}}}}
  H.rmdir(d)
  assert(rows[1].map50 > 0.6, "clean map50 " .. rows[1].map50)
  for i = 2, 4 do
    assert(rows[i].map50 < rows[1].map50 - 0.3, ("%s: map50 %g from %g"):format(rows[i].method, rows[i].map50, rows[1].map50))
    assert(rows[i].iou < rows[1].iou, rows[i].method .. ": iou")
  end
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
    {{model = m, data = smia.data.endoscopy{n = 1}, attacks = {}}, "'model' must be a detector (smia.models.detector)"},
    {{model = m, data = ds, attacks = {}, threshold = "x"}, "'threshold' must be a number"},
  }
  for i, case in ipairs(cases) do
    local ok, message = pcall(smia.eval, case[1])
    assert(not ok and tostring(message):find(case[2], 1, true), ("case %d: %s"):format(i, tostring(message)))
  end
end

return tests
