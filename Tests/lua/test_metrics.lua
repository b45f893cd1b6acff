-- smia.metrics against small cases worked out by hand, and bad calls.
local T = smia.tensor
local M = smia.metrics
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local tests = {}

-- Predicted {0, 1, 2, 2, 0, 1} against true {0, 1, 1, 2, 1, 0}.
local pred = T.from{0, 1, 2, 2, 0, 1}
local truth = T.from{0, 1, 1, 2, 1, 0}

function tests.classification()
  -- Right at positions 1, 2 and 4.
  H.near(M.accuracy(pred, truth), 0.5)
  -- Logits whose argmax is pred.
  local logits = T.zeros{6, 3}
  for i, c in ipairs(pred:totable()) do logits[{i, c + 1}] = 3 end
  H.near(M.accuracy(logits, truth), 0.5)
  -- Rows are true classes: true 0 predicted {0, 1}; true 1 predicted {1, 2, 0}; true 2 predicted {2}.
  H.close(M.confusion(pred, truth), T.from{{1, 1, 0}, {1, 1, 1}, {0, 0, 1}}, 0)
  H.same(M.confusion(logits, truth, {classes = 4}):shape(), {4, 4})
  -- Grade-0 images at positions 1 (predicted 0) and 6 (predicted 1).
  H.near(M.fpr(pred, truth), 0.5)
  H.eq(M.fpr(pred, T.from{1, 1, 2, 2, 3, 4}), nil, "fpr without grade-0 images")
end

function tests.segmentation()
  -- True {{0, 1, 1}, {0, 2, 2}}, predicted {{0, 1, 0}, {2, 2, 2}}.
  local y = T.from{{{0, 1, 1}, {0, 2, 2}}}
  local p = T.from{{{0, 1, 0}, {2, 2, 2}}}
  H.near(M.pixel_accuracy(p, y), 4 / 6)
  -- IoU: class 0 1/3, class 1 1/2, class 2 2/3. Dice: 1/2, 2/3, 4/5.
  local mean, per = M.iou(p, y)
  H.near(mean, 0.5)
  H.near(per[0], 1 / 3)
  H.near(per[1], 1 / 2)
  H.near(per[2], 2 / 3)
  H.near(M.jaccard(p, y, {classes = {1, 2}}), 7 / 12)
  H.near(M.iou(p, y, {classes = {1, 2, 7}}), 7 / 12)
  local dice, dper = M.dice(p, y, {classes = {1, 2}})
  H.near(dice, 11 / 15)
  H.near(dper[0], 0.5)
  -- Scores (N, K, H, W) give their argmax.
  local scores = T.zeros{1, 3, 2, 3}
  for r = 1, 2 do for c = 1, 3 do scores[{1, p[{1, r, c}] + 1, r, c}] = 1 end end
  H.near(M.pixel_accuracy(scores, y), 4 / 6)
  local m = M.iou(p, y, {classes = {5}})
  assert(m ~= m, "NaN when no averaged class has a value")
end

local function box(x1, y1, x2, y2, c, s) return {x1, y1, x2, y2, c, s} end

function tests.detection()
  H.near(M.box_iou({0, 0, 2, 2}, {1, 0, 3, 2}), 1 / 3)
  H.near(M.box_iou({x1 = 0, y1 = 0, x2 = 2, y2 = 2}, {0, 0, 2, 2}), 1)
  H.eq(M.box_iou({0, 0, 1, 1}, {1, 1, 2, 2}), 0)
  -- Image A: class 0 at (0,0,10,10), class 1 at (20,20,30,30); image B: class 0 at (0,0,10,10).
  local truths = {{box(0, 0, 10, 10, 0), box(20, 20, 30, 30, 1)}, {box(0, 0, 10, 10, 0)}}
  -- Class 0 by score: TP, duplicate (FP), miss (FP), TP: AP = .5 * 1 + .5 * .5 = .75; class 1 AP 0;
  -- class 2 has no ground truth and does not count.
  local detections = {
    {box(0, 0, 10, 10, 0, 0.9), box(0, 0, 10, 10, 0, 0.8), box(0, 0, 5, 5, 2, 0.95)},
    {box(50, 50, 60, 60, 0, 0.7), {x1 = 0, y1 = 0, x2 = 10, y2 = 10, class = 0, score = 0.6}},
  }
  local map, per = M.map(detections, truths)
  H.near(map, 0.375)
  H.near(per[0], 0.75)
  H.eq(per[1], 0)
  H.eq(per[2], nil)
  H.eq(M.map({{}, {}}, truths), 0, "no predictions")
  local none = M.map({{box(0, 0, 1, 1, 0, 1)}}, {{}})
  assert(none ~= none, "NaN without ground truth")
  -- A stricter threshold: IoU 0.5 passes at 0.5, not at 0.6.
  H.eq(M.map({{box(0, 0, 10, 5, 0, 1)}}, {{box(0, 0, 10, 10, 0)}}), 1)
  H.eq(M.map({{box(0, 0, 10, 5, 0, 1)}}, {{box(0, 0, 10, 10, 0)}}, {iou = 0.6}), 0)
  -- The boxes of a detection dataset work as ground truth directly.
  local b = smia.data.endoscopy{n = 2, size = 32}:batch{1, 2}
  local perfect = {}
  for i, list in ipairs(b.y) do
    perfect[i] = {}
    for k, g in ipairs(list) do perfect[i][k] = box(g[1], g[2], g[3], g[4], g[5], 1) end
  end
  H.eq(M.map(perfect, b.y), 1)
end

function tests.bad_calls()
  H.raises(function() M.accuracy(pred) end, "bad argument #2 to 'accuracy' (tensor expected, got no value)")
  H.raises(function() M.accuracy(T.zeros{5}, truth) end, "accuracy:", "size 5", "size 6")
  H.raises(function() M.accuracy(T.from{0.5, 0, 0, 0, 0, 0}, truth) end, "accuracy:", "value 0.5", "not a class")
  H.raises(function() M.confusion(pred, truth, {classes = 2}) end, "confusion:", "out of range for 2 classes")
  H.raises(function() M.confusion(pred, truth, {classes = 0}) end, "option 'classes'", "positive")
  H.raises(function() M.iou(pred, truth) end, "iou:", "(N, H, W)")
  H.raises(function() M.iou(T.zeros{1, 2, 2}, T.zeros{1, 2, 2}, {classes = 1}) end, "option 'classes'", "list of class labels")
  H.raises(function() M.dice(T.zeros{1, 2, 2}, T.zeros{1, 2, 2}, {classes = {-1}}) end, "entry 1 is not a class label")
  H.raises(function() M.box_iou({0, 0, 1}, {0, 0, 1, 1}) end, "bad argument #1 to 'box_iou'", "y2 must be a finite number")
  H.raises(function() M.map({{box(0, 0, 1, 1, 0)}}, {{}}) end, "bad argument #1 to 'map'", "box 1 of image 1", "score")
  H.raises(function() M.map({{}}, {{}, {}}) end, "map:", "predictions for 1 images, ground truth for 2")
  H.raises(function() M.map({{}}, {{box(0, 0, 1, 1, -1)}}) end, "bad argument #2 to 'map'", "class must be an integer >= 0")
  H.raises(function() M.map({{}}, {{}}, {iou = 2}) end, "threshold must be in (0, 1]")
  H.raises(function() M.map({{}}, {"boxes"}) end, "bad argument #2 to 'map'", "got a string for image 1")
  H.near(M.accuracy(pred, truth), 0.5)
end

return tests
