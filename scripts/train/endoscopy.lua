-- Trains the endoscopic artefact detector shipped as models/endoscopy.safetensors, and writes its
-- card (models/endoscopy.md) with the test mAP@0.5.
--
--   smia-lua scripts/train/endoscopy.lua [--epochs 8] [--seed 1] [--out models/endoscopy.safetensors]
--
-- Data: the generated benchmark smia.data.endoscopy (64×64 RGB frames, 1-4 boxes of 5 artefact
-- classes): --n-train images of split "train" train (with flips and crops that move the boxes),
-- --n-val of "val" choose the best epoch by mAP@0.5, --n-test of "test" are held out.
-- Model: smia.models.detector (CenterNet-style, stride 4), small so attacks stay cheap; its loss
-- is det:loss(det(x), boxes) and detections come from det:decode. Adam with a cosine schedule.
local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
local cli = dofile(here .. "/../lib/cli.lua")
local card = dofile(here .. "/../lib/card.lua")

local o = cli.parse(arg, {epochs = 8, seed = 1, lr = 0.004, batch_size = 32, width = 8,
  n_train = 3000, n_val = 300, n_test = 500, k = 20, threshold = 0.05, out = "models/endoscopy.safetensors"},
  "smia-lua scripts/train/endoscopy.lua [--epochs N] [--seed S] [--lr X] [--batch-size B] [--width W]"
  .. " [--n-train N] [--n-val N] [--n-test N] [--k K] [--threshold T] [--out PATH]")

local function all(ds)
  local t = {}
  for i = 1, ds:size() do t[i] = i end
  local b = ds:batch(t)
  return {x = b.x, y = b.y}
end

local started = smia.clock()
local train = all(smia.data.endoscopy{split = "train", n = o.n_train})
local val = all(smia.data.endoscopy{split = "val", n = o.n_val})

-- mAP@0.5 (PASCAL VOC) of the decoded detections; the model in eval mode.
local decode_options = {k = o.k, threshold = o.threshold}
local function detect(det, x)
  local found = {}
  local n = x:shape()[1]
  for first = 1, n, 100 do
    local count = math.min(100, n - first + 1)
    for _, d in ipairs(det:decode(det(x:narrow(1, first, count)), decode_options)) do found[#found + 1] = d end
  end
  return found
end
local function map50(det, data)
  local mean, per_class = smia.metrics.map(detect(det, data.x), data.y, {iou = 0.5})
  return mean, per_class
end

smia.seed(o.seed)
local architecture = {in_channels = 3, num_classes = 5, width = o.width}
local det = smia.models.detector(architecture)
local optimizer = smia.optim.adam(det, {lr = o.lr})
local steps = o.epochs * ((o.n_train + o.batch_size - 1) // o.batch_size)
local warmup = math.min(50, steps // 10)
local history = smia.train.fit{
  model = det, optimizer = optimizer, train = train, val = val,
  loss = function(out, batch) return (det:loss(out, batch.y)) end,
  metric = function(m, v) return (map50(m, v)) end,
  epochs = o.epochs, batch_size = o.batch_size, seed = o.seed, augment = {flip = true, vflip = true, crop = 4},
  schedule = smia.optim.schedule.warmup{steps = warmup, after = smia.optim.schedule.cosine{lr = o.lr, steps = steps - warmup}},
  clip_grad_norm = 10, checkpoint = o.out, quiet = false,
}
local minutes = (smia.clock() - started) / 60

det:load_weights(o.out)
det:eval()
local test = all(smia.data.endoscopy{split = "test", n = o.n_test})
local map, per_class = smia.no_grad(map50, det, test)
local map75 = smia.no_grad(function() return (smia.metrics.map(detect(det, test.x), test.y, {iou = 0.75})) end)

-- Cost of one forward and backward pass to the input (an attack step on the detection loss) on 100 images.
local n100 = math.min(100, o.n_test)
local x100, y100 = test.x:narrow(1, 1, n100), table.move(test.y, 1, n100, 1, {})
local df = smia.autograd.grad(function(x) return (det:loss(det(x), y100)) end)
-- The fastest of three timed runs after a warm-up, as the machine may be shared.
df(x100)
local step_seconds = math.huge
for _ = 1, 3 do
  local t0 = smia.clock()
  df(x100)
  step_seconds = math.min(step_seconds, smia.clock() - t0)
end
local parameters = det:num_parameters()

local names = smia.data.endoscopy{split = "test", n = 1}.classes
local class_text = {}
for label = 0, 4 do class_text[#class_text + 1] = ("%s %.3f"):format(names[label + 1], per_class[label] or 0 / 0) end
print(("endoscopy: best epoch %d (validation mAP@0.5 %.4f), test mAP@0.5 %.4f (%s), mAP@0.75 %.4f, %.1f minutes, %d parameters, attack step on 100 images %.2f s")
  :format(history.best_epoch, history.best, map, table.concat(class_text, ", "), map75, minutes, parameters, step_seconds))

local metrics = {{("mAP@0.5 (test, %d images)"):format(o.n_test), map}}
for label = 0, 4 do
  metrics[#metrics + 1] = {("AP@0.5, class %d %s (test)"):format(label, names[label + 1]), per_class[label] or 0 / 0}
end
metrics[#metrics + 1] = {("mAP@0.75 (test, %d images)"):format(o.n_test), map75}
metrics[#metrics + 1] = {("mAP@0.5 (validation, %d images)"):format(o.n_val), history.best}

card.write(o.out:gsub("%.safetensors$", "") .. ".md", {
  title = "Endoscopic artefact detector",
  architecture = ("`smia.models.detector{in_channels = 3, num_classes = 5, width = %d}` (CenterNet-style, stride 4; takes 3×64×64 frames in [0, 1]; `det(x)` gives the heads `{heatmap, size, offset}`)"):format(o.width),
  data = ("`smia.data.endoscopy` (generated, 64×64, 1-4 boxes per image, classes 0 specularity, 1 saturation, 2 bubbles, 3 motion blur, 4 low contrast): split \"train\" images 1–%d train, split \"val\" images 1–%d pick the best epoch, split \"test\" images 1–%d are held out")
    :format(o.n_train, o.n_val, o.n_test),
  training = ("`det:loss(det(x), boxes)` (CenterNet focal heatmap loss, size and offset L1); Adam, lr %g, %d warm-up steps then a cosine schedule, batch %d, %d epochs, gradient norm clipped at 10, horizontal and vertical flips and crops (pad 4) that move the boxes, seed %d; best epoch %d; %.1f minutes on 2 shared cores (data generation included)")
    :format(o.lr, warmup, o.batch_size, o.epochs, o.seed, history.best_epoch, minutes),
  command = ("smia-lua scripts/train/endoscopy.lua --epochs %d --seed %d --width %d --n-train %d --lr %g --batch-size %d")
    :format(o.epochs, o.seed, o.width, o.n_train, o.lr, o.batch_size),
  weights = o.out,
  metrics = metrics,
  notes = {
    ("Detections for the metrics: `det:decode(det(x), {k = %d, threshold = %g})` (NMS at IoU 0.5), scored by `smia.metrics.map` (PASCAL VOC, all-point interpolation)."):format(o.k, o.threshold),
    ("%d parameters (%.0f KiB as float32). One forward and backward pass to the input (an attack step on the detection loss) on 100 images took %.2f s (fastest of 3) on this machine while shared with other work.")
      :format(parameters, parameters * 4 / 1024, step_seconds),
  },
})
