-- The PyTorch fixtures (Tests/Data/fixtures, see its README) loaded and run from Lua: logits
-- within 1e-4 and the input gradient of the cross-entropy within 1e-4 relative L2.
local T, nn = smia.tensor, smia.nn
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local fixtures = H.fixtures

local small_cnn = H.small_cnn

local function check(name, model)
  model:load_weights(fixtures .. name .. ".weights.safetensors")
  model:eval()
  local e = smia.io.load(fixtures .. name .. ".expected.safetensors")
  local logits = model(e.x)
  local worst = ((logits - e.logits):abs() / (e.logits:abs() + 1)):max():item()
  assert(worst < 1e-4, ("%s: logits differ by %.3g"):format(name, worst))
  H.close(logits:argmax(2), e.y, 0, name .. " predictions")
  local g, loss = smia.autograd.grad(function(x) return nn.cross_entropy(model(x), e.y) end)(e.x)
  H.near(loss, e.ce_loss:item(), 1e-4, name .. " cross-entropy")
  local err = H.rel_l2(g, e.ce_grad_x)
  assert(err < 1e-4, ("%s: input gradient differs by %.3g relative L2"):format(name, err))
end

return {
  smallcnn = function() check("smallcnn_c1_28x28_k10_s2", small_cnn()) end,
  resnet18 = function() check("resnet18_c3_64x64_k5_s1", smia.models.resnet18{num_classes = 5, in_channels = 3}) end,
  gaussian_blur = function()
    local e = smia.io.load(fixtures .. "smallcnn_c1_28x28_k10_s2.expected.safetensors")
    H.close(nn.gaussian_blur(e.x, 5, 1), e.gauss_blur_x, 1e-5)
  end,
}
