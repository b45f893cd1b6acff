-- Trains the Fashion-MNIST classifier shipped as models/fashion_mnist.safetensors, and writes
-- its card (models/fashion_mnist.md) with the test accuracy.
--
--   smia-lua scripts/train/fashion_mnist.lua [--epochs 4] [--seed 1] [--out models/fashion_mnist.safetensors]
--
-- Data: Debian's dataset-fashion-mnist (installed by `make setup`): the first 55,000 training
-- images train, the last 5,000 choose the best epoch, the 10,000 test images are held out.
-- Model: smia.models.simple_cnn (3 stages of conv-BN-ReLU-pool, width 32), input
-- normalization inside the model so attacks work on [0, 1] pixels. Adam with a cosine schedule.
local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
local cli = dofile(here .. "/../lib/cli.lua")
local card = dofile(here .. "/../lib/card.lua")

local o = cli.parse(arg, {epochs = 4, seed = 1, lr = 0.003, batch_size = 128, out = "models/fashion_mnist.safetensors"},
  "smia-lua scripts/train/fashion_mnist.lua [--epochs N] [--seed S] [--lr X] [--batch-size B] [--out PATH]")

local function range(first, last)
  local t = {}
  for i = first, last do t[#t + 1] = i end
  return t
end

local train_set = smia.data.fashion_mnist{split = "train"}
local test_set = smia.data.fashion_mnist{split = "test"}
local train = train_set:batch(range(1, 55000))
local val = train_set:batch(range(55001, 60000))

smia.seed(o.seed)
local architecture = {in_channels = 1, num_classes = 10, width = 32, depth = 3, mean = {0.286}, std = {0.353}}
local model = smia.models.simple_cnn(architecture)
local optimizer = smia.optim.adam(model, {lr = o.lr})
local steps = o.epochs * ((55000 + o.batch_size - 1) // o.batch_size)
local started = smia.clock()
local history = smia.train.fit{
  model = model, optimizer = optimizer, train = {x = train.x, y = train.y}, val = {x = val.x, y = val.y},
  epochs = o.epochs, batch_size = o.batch_size, seed = o.seed, augment = {flip = true},
  schedule = smia.optim.schedule.cosine{lr = o.lr, steps = steps}, checkpoint = o.out, quiet = false,
}
local minutes = (smia.clock() - started) / 60

model:load_weights(o.out)
model:eval()
local test = test_set:batch(range(1, test_set:size()))
local accuracy = smia.train.accuracy(model, {x = test.x, y = test.y}, 500)
print(("fashion_mnist: best epoch %d (validation accuracy %.4f), test accuracy %.4f, %.1f minutes")
  :format(history.best_epoch, history.best, accuracy, minutes))

card.write(o.out:gsub("%.safetensors$", "") .. ".md", {
  title = "Fashion-MNIST classifier",
  architecture = "`smia.models.simple_cnn{in_channels = 1, num_classes = 10, width = 32, depth = 3, mean = {0.286}, std = {0.353}}` (input normalization inside the model; takes 1×28×28 images in [0, 1])",
  data = "Fashion-MNIST from Debian's `dataset-fashion-mnist`: training images 1–55,000 train, 55,001–60,000 pick the best epoch; the 10,000 test images are held out",
  training = ("Adam, lr %g with a cosine schedule, batch %d, %d epochs, horizontal flips, seed %d; best epoch %d; %.1f minutes on 2 cores")
    :format(o.lr, o.batch_size, o.epochs, o.seed, history.best_epoch, minutes),
  command = ("smia-lua scripts/train/fashion_mnist.lua --epochs %d --seed %d"):format(o.epochs, o.seed),
  weights = o.out,
  metrics = {{"accuracy (test, 10,000 images)", accuracy}, {"accuracy (validation, 5,000 images)", history.best}},
})
