-- Trains the fundus grading classifier shipped as models/fundus.safetensors (diabetic
-- retinopathy grades 0-4 on the generated fundus benchmark), and writes its card
-- (models/fundus.md) with the held-out accuracy and false positive rate.
--
--   smia-lua scripts/train/fundus.lua [--n 8000] [--epochs 12] [--seed 1] [--out models/fundus.safetensors]
--
-- Data: smia.data.fundus (64x64 RGB): split "train" trains, "val" picks the best epoch, "test"
-- is held out. Model: smia.models.simple_cnn with input normalization inside the model, so
-- attacks work on [0, 1] pixels. Adam with a cosine schedule, flips as augmentation (the grade
-- depends on lesions, not on orientation).
local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
local cli = dofile(here .. "/../lib/cli.lua")
local card = dofile(here .. "/../lib/card.lua")

local o = cli.parse(arg, {n = 8000, val = 500, test = 1000, epochs = 12, seed = 1, lr = 0.003, batch_size = 64,
                          width = 16, depth = 4, out = "models/fundus.safetensors"},
  "smia-lua scripts/train/fundus.lua [--n N] [--val N] [--test N] [--epochs E] [--seed S] [--lr X] [--batch-size B] [--width W] [--depth D] [--out PATH]")

local function all(ds)
  local t = {}
  for i = 1, ds:size() do t[i] = i end
  local b = ds:batch(t)
  return {x = b.x, y = b.y}
end

local train = all(smia.data.fundus{split = "train", n = o.n})
local val = all(smia.data.fundus{split = "val", n = o.val})
local test = all(smia.data.fundus{split = "test", n = o.test})

-- Per-channel statistics of the training images, for the model's input normalization.
local mean, std = {}, {}
for c = 1, 3 do
  local channel = train.x:select(2, c)
  mean[c], std[c] = channel:mean():item(), channel:std():item()
end

smia.seed(o.seed)
local architecture = {in_channels = 3, num_classes = 5, width = o.width, depth = o.depth, mean = mean, std = std}
local model = smia.models.simple_cnn(architecture)
local optimizer = smia.optim.adam(model, {lr = o.lr})
local steps = o.epochs * ((o.n + o.batch_size - 1) // o.batch_size)
local started = smia.clock()
local history = smia.train.fit{
  model = model, optimizer = optimizer, train = train, val = val,
  epochs = o.epochs, batch_size = o.batch_size, seed = o.seed, augment = {flip = true, vflip = true},
  schedule = smia.optim.schedule.cosine{lr = o.lr, steps = steps}, checkpoint = o.out, quiet = false,
}
local minutes = (smia.clock() - started) / 60

model:load_weights(o.out)
model:eval()
local pred = smia.no_grad(function() return model(test.x):argmax(2) end)
local accuracy, fpr = smia.metrics.accuracy(pred, test.y), smia.metrics.fpr(pred, test.y)
print(("fundus: best epoch %d (validation accuracy %.4f), test accuracy %.4f, false positive rate %.4f, %.1f minutes")
  :format(history.best_epoch, history.best, accuracy, fpr, minutes))

local function list(values)
  local parts = {}
  for i, v in ipairs(values) do parts[i] = ("%.4f"):format(v) end
  return "{" .. table.concat(parts, ", ") .. "}"
end
card.write(o.out:gsub("%.safetensors$", "") .. ".md", {
  title = "Fundus grading classifier (diabetic retinopathy grades 0-4)",
  architecture = ("`smia.models.simple_cnn{in_channels = 3, num_classes = 5, width = %d, depth = %d, mean = %s, std = %s}` (input normalization inside the model; takes 3×64×64 images in [0, 1])")
    :format(o.width, o.depth, list(mean), list(std)),
  data = ("generated fundus benchmark, `smia.data.fundus`: %d images of split \"train\" train, %d of \"val\" pick the best epoch, %d of \"test\" are held out")
    :format(o.n, o.val, o.test),
  training = ("Adam, lr %g with a cosine schedule, batch %d, %d epochs, horizontal and vertical flips, seed %d; best epoch %d; %.1f minutes on 2 cores")
    :format(o.lr, o.batch_size, o.epochs, o.seed, history.best_epoch, minutes),
  command = ("smia-lua scripts/train/fundus.lua --n %d --epochs %d --seed %d --width %d --depth %d"):format(o.n, o.epochs, o.seed, o.width, o.depth),
  weights = o.out,
  metrics = {{("accuracy (test, %d images)"):format(o.test), accuracy},
             {"false positive rate (grade > 0 predicted for a grade-0 image, test)", fpr},
             {("accuracy (validation, %d images)"):format(o.val), history.best}},
})
