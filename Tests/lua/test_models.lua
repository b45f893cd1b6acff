-- The trained models shipped in models/: each loads into its architecture (every name and shape
-- checked) and keeps its clean metric on a small held-out subset. One function per model; the
-- architecture and the evaluation are those of its training script (scripts/train/<name>.lua)
-- and its card (models/<name>.md).
local T = smia.tensor
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
local models_dir = here .. "/../../models"

local tests = {}

local function load(model, name)
  local path = ("%s/%s.safetensors"):format(models_dir, name)
  local f = io.open(path, "rb")
  if not f then error(("missing shipped model %s"):format(path), 2) end
  f:close()
  model:load_weights(path)
  model:eval()
  return model
end

-- The first n images of a generated benchmark's test split (held out from training and from the
-- choice of the best epoch).
local function test_images(source, n)
  local ds = source{split = "test", n = n}
  local t = {}
  for i = 1, n do t[i] = i end
  return ds:batch(t)
end

-- U-Net on ct_lung: mean Jaccard of the two lungs. Target 0.90 on 500 test images; pixels are
-- pooled, so 100 images give a steady estimate (the shipped model: 0.938 to 0.942 over the five
-- blocks of 100 test images); threshold the target less 2 points.
function tests.ct_lung()
  local model = load(smia.models.unet{in_channels = 1, num_classes = 3, width = 4, depth = 3}, "ct_lung")
  local b = test_images(smia.data.ct_lung, 100)
  local iou, per_class = smia.no_grad(function()
    return smia.metrics.iou(model(b.x):argmax(2), b.y, {classes = {1, 2}})
  end)
  assert(iou >= 0.88, ("ct_lung: mean lung IoU %.4f on 100 test images, expected >= 0.88"):format(iou))
  assert(per_class[1] >= 0.85 and per_class[2] >= 0.85,
    ("ct_lung: both lungs found (left %.4f, right %.4f)"):format(per_class[1], per_class[2]))
end

-- Detector on endoscopy: mAP@0.5 of det:decode(det(x), {k = 20, threshold = 0.05}). Target 0.50
-- on 500 test images; on 100 images (~250 boxes, ~50 per class) the APs move by several points
-- (the shipped model: 0.77 to 0.82 over the five blocks of 100 test images); threshold the target
-- less 5 points.
function tests.endoscopy()
  local det = load(smia.models.detector{in_channels = 3, num_classes = 5, width = 8}, "endoscopy")
  local b = test_images(smia.data.endoscopy, 100)
  local map = smia.no_grad(function()
    return (smia.metrics.map(det:decode(det(b.x), {k = 20, threshold = 0.05}), b.y, {iou = 0.5}))
  end)
  assert(map >= 0.45, ("endoscopy: mAP@0.5 %.4f on 100 test images, expected >= 0.45"):format(map))
  H.eq(type(det(b.x:narrow(1, 1, 1))), "table", "det(x) gives the heads")
end

-- simple_cnn on Fashion-MNIST: accuracy. Target 0.90 on the 10,000 test images (the shipped
-- model: 0.911); the first 2,000 give 0.919 (0.905 to 0.919 over the five blocks of 2,000);
-- threshold the target less 2 points.
function tests.fashion_mnist()
  local model = load(smia.models.simple_cnn{in_channels = 1, num_classes = 10, width = 32, depth = 3,
                                            mean = {0}, std = {1}}, "fashion_mnist")
  local ds = smia.data.fashion_mnist{split = "test", n = 2000}
  local t = {}
  for i = 1, 2000 do t[i] = i end
  local b = ds:batch(t)
  local accuracy = smia.no_grad(function() return smia.metrics.accuracy(model(b.x):argmax(2), b.y) end)
  assert(accuracy >= 0.88, ("fashion_mnist: accuracy %.4f on 2,000 test images, expected >= 0.88"):format(accuracy))
end

return tests
