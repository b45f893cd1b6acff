-- The smia-lua half of `make bench-pytorch` (scripts/bench/vs_pytorch.py runs the PyTorch half
-- and calls this once per row, so both halves of a row run back to back on the same machine).
--
--   smia-lua scripts/bench/pytorch_rows.lua ROW      (ROW: one of the names below, or "list")
--
-- Prints one JSON object: {"row": ROW, "seconds": best wall-clock time of one call}. The work
-- of each row is defined identically in vs_pytorch.py:
-- - forward: the model on the batch, without gradient; input_grad: the input gradient of the
--   mean cross-entropy (forward and backward);
-- - fgsm, pgd10, smia10: `a:run(model, x, y)` with eps 8/255 (steps of 2/255; PGD from a random
--   start; SMIA with its defaults, alpha 1, kernel 5, sigma 1), everything a run costs
--   (PyTorch: the attack plus one forward pass scoring the adversarial images);
-- - unet_step, detector_step: one FGSM step on the shipped models with their task losses.
-- Weights are random except for the shipped U-Net and detector; the time does not depend on them.
local T, nn, A = smia.tensor, smia.nn, smia.attack
local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
local bench = dofile(here .. "/../lib/bench.lua")
local root = here .. "/../../"

local function labels(n, classes)
  local t = {}
  for k = 1, n do t[k] = (k - 1) % classes end
  return T.from(t)
end

-- The small CNN of the speed issue: 3x3 convolutions of 32 and 64 channels, each with ReLU and
-- 2x2 max pooling, then linear layers of 128 and 10.
local function issue_cnn()
  return nn.Sequential{
    nn.Conv2d{1, 32, 3, padding = 1}, nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d{32, 64, 3, padding = 1}, nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear{64 * 7 * 7, 128}, nn.ReLU(), nn.Linear{128, 10},
  }
end

-- The PyTorch fixtures' small CNN (Tests/lua/test_fixtures.lua).
local function fixture_cnn()
  return nn.Sequential{
    nn.Conv2d{1, 16, 3, padding = 1}, nn.BatchNorm2d{16}, nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d{16, 32, 3, padding = 1}, nn.BatchNorm2d{32}, nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear{1568, 64}, nn.ReLU(), nn.Linear{64, 10},
  }
end

local setups = {
  resnet18 = function() return smia.models.resnet18{num_classes = 1000}, T.rand({8, 3, 224, 224}, 1), labels(8, 1000) end,
  resnet50 = function() return smia.models.resnet50{num_classes = 1000}, T.rand({4, 3, 224, 224}, 1), labels(4, 1000) end,
  cnn = function() return issue_cnn(), T.rand({256, 1, 28, 28}, 1), labels(256, 10) end,
  fixture_cnn = function() return fixture_cnn(), T.rand({256, 1, 28, 28}, 1), labels(256, 10) end,
  unet = function()
    local m = smia.models.unet{in_channels = 1, num_classes = 3, width = 4, depth = 3}
    m:load_weights(root .. "models/ct_lung.safetensors")
    local b = smia.data.ct_lung{split = "test", n = 16}:batch{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
    return m, b.x, b.y
  end,
  detector = function()
    local m = smia.models.detector{in_channels = 3, num_classes = 5, width = 8}
    m:load_weights(root .. "models/endoscopy.safetensors")
    local b = smia.data.endoscopy{split = "test", n = 16}:batch{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
    return m, b.x, b.y
  end,
}

local function forward(m, x) return function() return smia.no_grad(function() return m(x) end) end end
local function input_grad(m, x, y)
  local df = smia.autograd.grad(function(input) return nn.cross_entropy(m(input), y) end)
  return function() return df(x) end
end
local function attack(a) return function(m, x, y) return function() return a:run(m, x, y) end end end

local rows = {
  {"resnet18_b8_forward", "resnet18", forward},
  {"resnet18_b8_input_grad", "resnet18", input_grad},
  {"resnet18_b8_fgsm", "resnet18", attack(A.fgsm{})},
  {"resnet18_b8_pgd10", "resnet18", attack(A.pgd{steps = 10})},
  {"resnet18_b8_smia10", "resnet18", attack(A.smia{steps = 10})},
  {"resnet50_b4_forward", "resnet50", forward},
  {"resnet50_b4_input_grad", "resnet50", input_grad},
  {"cnn_b256_forward", "cnn", forward},
  {"cnn_b256_fgsm", "cnn", attack(A.fgsm{})},
  {"cnn_b256_pgd10", "cnn", attack(A.pgd{steps = 10})},
  {"cnn_b256_smia10", "cnn", attack(A.smia{steps = 10})},
  {"fixture_cnn_b256_forward", "fixture_cnn", forward},
  {"fixture_cnn_b256_fgsm", "fixture_cnn", attack(A.fgsm{})},
  {"fixture_cnn_b256_pgd10", "fixture_cnn", attack(A.pgd{steps = 10})},
  {"fixture_cnn_b256_smia10", "fixture_cnn", attack(A.smia{steps = 10})},
  {"unet_b16_step", "unet", attack(A.fgsm{})},
  {"detector_b16_step", "detector", attack(A.fgsm{})},
}

local wanted = arg and arg[1]
if wanted == nil or wanted == "list" then
  for _, r in ipairs(rows) do print(r[1]) end
  return
end
for _, r in ipairs(rows) do
  local name, setup, work = r[1], r[2], r[3]
  if name == wanted then
    local m, x, y = setups[setup]()
    m:eval()
    -- A warm-up call, then at least 2 calls and 1 second, as vs_pytorch.py times PyTorch.
    local seconds = bench.best_time(work(m, x, y), 1.0, 2)
    bench.emit{{"row", name}, {"seconds", seconds}}
    return
  end
end
error("unknown row '" .. tostring(wanted) .. "' (run with 'list' for the rows)")
