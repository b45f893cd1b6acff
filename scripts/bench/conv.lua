-- Convolution speed against the machine's matmul speed.
--
--   smia-lua scripts/bench/conv.lua        (or: make bench)
--
-- Prints one JSON object per line: first the matmul GFLOP/s at 1024x1024 (sgemm), then for
-- each convolution shape the GFLOP/s of the forward pass and of a gradient call, each also as a fraction
-- of the matmul figure measured again just before that shape (so a machine whose load changes
-- during the run still gives fair ratios). Shapes: the 3x3 convolutions of ResNet-18 at batch 8 (224x224 input,
-- so 56x56 at layer1), and the two convolutions of the fixture small CNN at batch 256.
-- A gradient call is a forward pass and the backward pass with respect to the input only (the
-- weights need no gradient), counted as twice the forward pass's operations. (Its time minus the
-- forward pass's is no measure of the backward pass alone: on a busy machine the two times can
-- come out nearly equal.)
local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
local bench = dofile(here .. "/../lib/bench.lua")
local T, nn = smia.tensor, smia.nn

local matmul = bench.matmul_gflops(1024)
bench.emit{{"bench", "matmul"}, {"n", 1024}, {"gflops", matmul}}

-- name, batch, in channels, out channels, input size, stride
local shapes = {
  {"resnet18.layer1 3x3 64->64 @56", 8, 64, 64, 56, 1},
  {"resnet18.layer2.0 3x3 64->128 s2 @56", 8, 64, 128, 56, 2},
  {"resnet18.layer2 3x3 128->128 @28", 8, 128, 128, 28, 1},
  {"resnet18.layer3.0 3x3 128->256 s2 @28", 8, 128, 256, 28, 2},
  {"resnet18.layer3 3x3 256->256 @14", 8, 256, 256, 14, 1},
  {"resnet18.layer4.0 3x3 256->512 s2 @14", 8, 256, 512, 14, 2},
  {"resnet18.layer4 3x3 512->512 @7", 8, 512, 512, 7, 1},
  {"smallcnn conv1 3x3 1->16 @28", 256, 1, 16, 28, 1},
  {"smallcnn conv2 3x3 16->32 @14", 256, 16, 32, 14, 1},
}

for i, s in ipairs(shapes) do
  local name, n, cin, cout, size, stride = table.unpack(s)
  local x = T.rand({n, cin, size, size}, 10 + i)
  local w = T.randn({cout, cin, 3, 3}, 20 + i) * (1 / math.sqrt(9 * cin))
  local options = {stride = stride, padding = 1}
  local out = (size + 2 - 3) // stride + 1
  local flops = 2 * n * cout * out * out * cin * 9

  local reference = bench.matmul_gflops(1024)
  local forward = bench.best_time(function() return nn.conv2d(x, w, options) end)
  local input_grad = smia.autograd.grad(function(input) return nn.conv2d(input, w, options):sum() end)
  local both = bench.best_time(function() return input_grad(x) end)

  bench.emit{{"bench", "conv2d"}, {"shape", name}, {"batch", n}, {"matmul_gflops", reference},
             {"forward_gflops", flops / forward / 1e9}, {"forward_vs_matmul", flops / forward / 1e9 / reference},
             {"gradient_call_gflops", 2 * flops / both / 1e9}, {"gradient_call_vs_matmul", 2 * flops / both / 1e9 / reference}}
end
