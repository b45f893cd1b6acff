-- The layers around transposed convolution and resizing, the small activation layers, Normalize,
-- focal loss, and the U-Net, detector and small CNN model families.
local T, nn, models = smia.tensor, smia.nn, smia.models
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local tests = {}

function tests.conv_transpose2d()
  -- A 2x2 stride-2 kernel tiles each pixel into a block.
  local x = T.from{{{{1, 2}, {3, 4}}}}
  local w = T.from{{{{1, 10}, {100, 1000}}}}
  H.close(nn.conv_transpose2d(x, w, {stride = 2}),
    {{{{1, 10, 2, 20}, {100, 1000, 200, 2000}, {3, 30, 4, 40}, {300, 3000, 400, 4000}}}})
  H.close(nn.conv_transpose2d(x, T.ones{1, 1, 2, 2}, T.from{0.5}), {{{{1.5, 3.5, 2.5}, {4.5, 10.5, 6.5}, {3.5, 7.5, 4.5}}}})
  H.same(nn.conv_transpose2d(T.zeros{1, 2, 5, 5}, T.zeros{2, 3, 3, 3}, nil, {stride = 2, padding = 1, output_padding = 1}):shape(),
    {1, 3, 10, 10})
  smia.seed(1)
  local up = nn.ConvTranspose2d{in_channels = 4, out_channels = 6, kernel_size = 2, stride = 2, groups = 2}
  H.same(up.weight:shape(), {4, 3, 2, 2}, "PyTorch's (in, out/groups, kH, kW)")
  H.same(up(T.zeros{2, 4, 3, 5}):shape(), {2, 6, 6, 10})
  local _, names = up:state_dict()
  H.same(names, {"weight", "bias"})
  H.eq(#nn.ConvTranspose2d{2, 2, 3, bias = false}:parameters(), 1)
  assert(tostring(up):find("ConvTranspose2d(4, 6, kernel_size=(2, 2), stride=(2, 2), groups=2)", 1, true), tostring(up))
end

function tests.conv_transpose2d_gradient()
  local w = T.randn({2, 3, 3, 3}, 2)
  local f = function(x) return (nn.conv_transpose2d(x, w, {stride = 2, padding = 1}) * T.randn({1, 3, 5, 5}, 3)):sum() end
  local x = T.randn({1, 2, 3, 3}, 4)
  local g = smia.autograd.grad(f)(x)
  H.close(g, H.numeric_grad(f, x), 1e-2)
end

function tests.interpolate()
  local x = T.from{{{{1, 2}, {3, 4}}}}
  H.close(nn.interpolate(x, {scale_factor = 2}), {{{{1, 1, 2, 2}, {1, 1, 2, 2}, {3, 3, 4, 4}, {3, 3, 4, 4}}}})
  H.close(nn.interpolate(x, {scale_factor = 2, mode = "bilinear"}),
    {{{{1, 1.25, 1.75, 2}, {1.5, 1.75, 2.25, 2.5}, {2.5, 2.75, 3.25, 3.5}, {3, 3.25, 3.75, 4}}}})
  H.close(nn.interpolate(x, {size = {2, 3}, mode = "bilinear", align_corners = true}), {{{{1, 1.5, 2}, {3, 3.5, 4}}}})
  H.same(nn.interpolate(x, {size = 5}):shape(), {1, 1, 5, 5})
  H.same(nn.interpolate(x, {scale_factor = {1, 1.5}}):shape(), {1, 1, 2, 3})
  local up = nn.Upsample{scale_factor = 2, mode = "bilinear"}
  H.close(up(x), nn.interpolate(x, {scale_factor = 2, mode = "bilinear"}))
  H.same(nn.Upsample{size = {3, 4}}(x):shape(), {1, 1, 3, 4})
  H.eq(#up:parameters(), 0)
  local f = function(t) return (nn.interpolate(t, {size = {3, 5}, mode = "bilinear"}) * T.randn({1, 1, 3, 5}, 1)):sum() end
  H.close(smia.autograd.grad(f)(x), H.numeric_grad(f, x), 1e-2, "gradient")
end

function tests.small_layers()
  local x = T.from{{-2, 1}, {0.5, -0.5}}
  H.close(nn.LeakyReLU()(x), {{-0.02, 1}, {0.5, -0.005}})
  H.close(nn.LeakyReLU{0.2}(x), {{-0.4, 1}, {0.5, -0.1}})
  H.close(nn.LeakyReLU{negative_slope = 0.2}(x), {{-0.4, 1}, {0.5, -0.1}})
  H.close(nn.Sigmoid()(T.zeros{2}), {0.5, 0.5})
  H.close(nn.Softmax{dim = 2}(x):sum(2), {1, 1})
  H.close(nn.Softmax{1}(x):sum(1), {1, 1})
  H.close(nn.Softmax{dim = -1}(x), nn.softmax(x, 2))
  H.close(nn.Identity()(x), x, 0)
  H.eq(nn.Identity():type(), "Identity")
end

function tests.normalize()
  local norm = nn.Normalize{mean = {0.5, 0.25}, std = {0.5, 2}}
  local x = T.from{{{{1}}, {{2.25}}}}
  H.close(norm(x), {{{{1}}, {{1}}}})
  local sd, names = norm:state_dict()
  H.same(names, {"mean", "std"})
  H.eq(#norm:parameters(), 0, "buffers, not parameters")
  local other = nn.Normalize{mean = {0, 0}, std = {1, 1}}
  other:load_state_dict(sd)
  H.close(other(x), norm(x), 0, "the state dict round-trips")
  H.close(nn.Normalize{mean = 0.5, std = 0.25}(T.ones{1, 1, 2, 2}), T.full({1, 1, 2, 2}, 2))
  -- As the first layer: the model takes [0, 1] images and the gradient flows through.
  local m = nn.Sequential{nn.Normalize{mean = {0.5}, std = {0.25}}, nn.Flatten(), nn.Linear{4, 2}}
  local _, mnames = m:state_dict()
  H.eq(mnames[1], "0.mean")
  local g = smia.autograd.grad(function(t) return m(t):sum() end)(T.rand({1, 1, 2, 2}, 1))
  H.same(g:shape(), {1, 1, 2, 2})
end

function tests.focal_loss()
  local z = T.from{{2, -1}, {0, 3}}
  local t = T.from{{1, 0.5}, {0, 0}}
  local sig = function(v) return 1 / (1 + math.exp(-v)) end
  local p = {sig(2), sig(-1), sig(0), sig(3)}
  local expected = {
    -(1 - p[1]) ^ 2 * math.log(p[1]),
    -(0.5 ^ 4) * p[2] ^ 2 * math.log(1 - p[2]),
    -p[3] ^ 2 * math.log(1 - p[3]),
    -p[4] ^ 2 * math.log(1 - p[4]),
  }
  H.close(nn.focal_loss(z, t, "none"), {{expected[1], expected[2]}, {expected[3], expected[4]}})
  local total = expected[1] + expected[2] + expected[3] + expected[4]
  H.near(nn.focal_loss(z, t, {reduction = "sum"}):item(), total)
  H.near(nn.focal_loss(z, t):item(), total / 4)
  H.near(nn.focal_loss(z, t, {alpha = 1, beta = 2, reduction = "none"})[1][2], -(0.5 ^ 2) * p[2] * math.log(1 - p[2]))
  local f = function(v) return nn.focal_loss(v, t, "sum") end
  H.close(smia.autograd.grad(f)(z), H.numeric_grad(f, z, 1e-3), 1e-2, "gradient")
end

function tests.unet()
  smia.seed(2)
  local net = models.unet{in_channels = 1, num_classes = 3, width = 4, depth = 3}
  net:eval()
  H.same(net(T.rand({2, 1, 16, 24}, 1)):shape(), {2, 3, 16, 24})
  local sd, names = net:state_dict()
  H.eq(names[1], "inc.double_conv.0.weight")
  H.same(sd["up1.up.weight"]:shape(), {32, 16, 2, 2})
  H.same(sd["outc.conv.weight"]:shape(), {3, 4, 1, 1})
  assert(sd["down3.maxpool_conv.1.double_conv.4.running_var"], "milesial/Pytorch-UNet's names")
  H.eq(net:type(), "UNet")
  H.same(models.unet{}:eval()(T.zeros{1, 1, 8, 8}):shape(), {1, 2, 8, 8}, "defaults: 1 channel in, 2 classes")
  local g = smia.autograd.grad(function(x) return net(x):sum() end)(T.rand({1, 1, 8, 8}, 2))
  H.same(g:shape(), {1, 1, 8, 8})
end

function tests.simple_cnn()
  smia.seed(3)
  local rgb = models.simple_cnn{in_channels = 3, num_classes = 5, width = 8, depth = 3}
  rgb:eval()
  H.same(rgb(T.rand({4, 3, 64, 64}, 1)):shape(), {4, 5})
  local gray = models.simple_cnn{in_channels = 1, num_classes = 10, width = 8, depth = 2, mean = {0.286}, std = {0.353}}
  gray:eval()
  H.same(gray(T.rand({3, 1, 28, 28}, 2)):shape(), {3, 10})
  local _, names = gray:state_dict()
  H.same({names[1], names[2], names[3], names[#names]}, {"normalize.mean", "normalize.std", "features.0.weight", "fc.bias"})
  H.same(gray.fc.weight:shape(), {10, 16})
  -- An attack step: the input gradient of the loss.
  local x, y = T.rand({3, 1, 28, 28}, 4), T.from{1, 2, 3}
  local g = smia.autograd.grad(function(v) return nn.cross_entropy(gray(v), y) end)(x)
  H.same(g:shape(), {3, 1, 28, 28})
  assert(g:abs():sum():item() > 0)
end

function tests.detector()
  smia.seed(4)
  local det = models.detector{in_channels = 3, num_classes = 5, width = 4}
  det:eval()
  local x = T.rand({2, 3, 32, 48}, 1)
  local out = det(x)
  H.same(out.heatmap:shape(), {2, 5, 8, 12})
  H.same(out.size:shape(), {2, 2, 8, 12})
  H.same(out.offset:shape(), {2, 2, 8, 12})
  H.same(det:forward(x).heatmap:shape(), {2, 5, 8, 12})
  H.close(det.hm[3].bias, T.full({5}, -2.19), 1e-6, "CenterNet's heatmap bias")
  local sd = det:state_dict()
  assert(sd["stem.0.weight"] and sd["up1.0.weight"] and sd["wh.2.bias"] and sd["reg.0.weight"])
  H.eq(det:type(), "Detector")

  local boxes = {{{4, 6, 20, 18, 0}, {x1 = 30, y1 = 10, x2 = 44, y2 = 30, class = 4}}, {}}
  local loss, parts = det:loss(out, boxes)
  H.eq(loss:numel(), 1)
  H.near(loss:item(), parts.heatmap + 0.1 * parts.size + parts.offset, 1e-5)
  -- Differentiable with respect to the image.
  local g, value = smia.autograd.grad(function(v) return det:loss(det(v), boxes) end)(x)
  H.same(g:shape(), {2, 3, 32, 48})
  H.near(value, loss:item(), 1e-5)
  assert(g:abs():sum():item() > 0)

  local found = det:decode(out, {k = 10, threshold = 0, nms = false})
  H.eq(#found, 2)
  H.eq(#found[1], 10)
  local d = found[1][1]
  assert(d.x1 and d.y1 and d.x2 and d.y2 and d.score and d.class, "fields of a detection")
  H.same({d[1], d[2], d[3], d[4], d[5], d[6]}, {d.x1, d.y1, d.x2, d.y2, d.class, d.score}, "and by position")
  assert(math.type(d.class) == "integer" and d.class >= 0 and d.class < 5, "0-based class")
  assert(found[1][1].score >= found[1][2].score, "best first")
  H.eq(#det:decode(out, {threshold = 1.01})[1], 0, "threshold")
  H.eq(#det:decode(out)[1] <= 100, true)
end

function tests.detector_round_trip()
  -- Heads that put a sharp peak, a size and an offset where a box is decode to that box.
  local det = models.detector{in_channels = 1, num_classes = 2, width = 4}
  local heat = T.full({1, 2, 4, 4}, -10)
  heat[{1, 2, 2, 3}] = 5
  local size = T.zeros{1, 2, 4, 4}
  size[{1, 1, 2, 3}] = 2   -- 8 pixels wide
  size[{1, 2, 2, 3}] = 1.5 -- 6 pixels high
  local offset = T.zeros{1, 2, 4, 4}
  offset[{1, 1, 2, 3}] = 0.5
  offset[{1, 2, 2, 3}] = 0.25
  local found = det:decode({heatmap = heat, size = size, offset = offset}, {threshold = 0.5})
  H.eq(#found[1], 1)
  local d = found[1][1]
  -- Centre: column 2 + 0.5, row 1 + 0.25 cells, times 4 pixels.
  H.near(d.x1, 10 - 4); H.near(d.x2, 10 + 4); H.near(d.y1, 5 - 3); H.near(d.y2, 5 + 3)
  H.eq(d.class, 1)
  H.near(d.score, 1 / (1 + math.exp(-5)))
  -- The loss of these heads for that box: size and offset terms vanish.
  local _, parts = det:loss({heatmap = heat, size = size, offset = offset}, {{{6, 2, 14, 8, 1}}})
  H.near(parts.size, 0, 1e-6)
  H.near(parts.offset, 0, 1e-6)
end

function tests.detector_learns_squares()
  -- Bright squares on black, the class by size: plain SGD on det:loss finds them on new images.
  smia.seed(5)
  local det = models.detector{in_channels = 1, num_classes = 2, width = 8}
  local function batch(seed)
    local x, boxes, r = T.zeros{8, 1, 32, 32}, {}, seed
    local function rnd(n) r = (r * 1103515245 + 12345) % 2147483648; return r % n end
    for i = 1, 8 do
      local s = rnd(2) == 0 and 6 or 12
      local x1, y1 = rnd(32 - s), rnd(32 - s)
      for yy = y1 + 1, y1 + s do for xx = x1 + 1, x1 + s do x[{i, 1, yy, xx}] = 1 end end
      boxes[i] = {{x1, y1, x1 + s, y1 + s, s == 6 and 0 or 1}}
    end
    return x, boxes
  end
  local params = det:parameters()
  local df = smia.autograd.grad(function(_, x, b) return det:loss(det(x), b) end)
  local first, last
  for step = 1, 150 do
    local x, b = batch(step)
    local g, v = df(params, x, b)
    for k, p in ipairs(params) do p:sub_(g[k] * 0.05) end
    first, last = first or v, v
  end
  assert(last < first / 10, ("the loss fell from %g to %g only"):format(first, last))
  det:eval()
  local x, b = batch(999)
  local found = det:decode(det(x), {threshold = 0.2})
  local hits = 0
  for i = 1, 8 do
    local d, t = found[i][1], b[i][1]
    if d and d.class == t[5] then
      local iw = math.min(d.x2, t[3]) - math.max(d.x1, t[1])
      local ih = math.min(d.y2, t[4]) - math.max(d.y1, t[2])
      local inter = math.max(iw, 0) * math.max(ih, 0)
      local union = (d.x2 - d.x1) * (d.y2 - d.y1) + (t[3] - t[1]) * (t[4] - t[2]) - inter
      if inter / union > 0.5 then hits = hits + 1 end
    end
  end
  assert(hits >= 6, ("found %d of 8 squares"):format(hits))
end

function tests.bad_calls()
  local x = T.zeros{1, 1, 4, 4}
  H.raises(function() return nn.ConvTranspose2d{in_channels = 2, kernel_size = 2} end, "bad argument #1 to 'ConvTranspose2d'", "option 'out_channels' is required")
  H.raises(function() return nn.ConvTranspose2d{2, 2, 3, output_padding = "a"} end, "'ConvTranspose2d'", "output_padding")
  H.raises(function() return nn.ConvTranspose2d{2, 2, 2, stride = 2, output_padding = 2} end, "output_padding", "smaller than stride")
  H.raises(function() return nn.ConvTranspose2d(2, 2, 3) end, "bad argument #1 to 'ConvTranspose2d' (table of options expected, got number)")
  H.raises(function() return nn.conv_transpose2d(x, T.zeros{2, 1, 3, 3}) end, "conv_transpose2d", "expects 2 input channels, got 1")
  H.raises(function() return nn.interpolate(x) end, "bad argument #2 to 'interpolate' (table of options expected, got no value)")
  H.raises(function() return nn.interpolate(x, {}) end, "bad argument #2 to 'interpolate'", "'size' and 'scale_factor'")
  H.raises(function() return nn.interpolate(x, {size = 2, scale_factor = 2}) end, "exclude each other")
  H.raises(function() return nn.interpolate(x, {size = 8, mode = "bicubic"}) end, "option 'mode'", "'bicubic'")
  H.raises(function() return nn.interpolate(x, {size = 8, align_corners = true}) end, "align_corners", "bilinear")
  H.raises(function() return nn.interpolate(x, {scale_factor = {1, 2, 3}}) end, "'scale_factor'", "3 numbers")
  H.raises(function() return nn.interpolate(T.zeros{4}, {size = 2}) end, "interpolate", "(N, C, H, W)")
  H.raises(function() return nn.Upsample{scale_factor = "x"} end, "bad argument #1 to 'Upsample'", "scale_factor")
  H.raises(function() return nn.Upsample{scale_factor = -1} end, "Upsample", "positive")
  H.raises(function() return nn.LeakyReLU{slope = 0.1} end, "bad argument #1 to 'LeakyReLU' (unknown option 'slope'")
  H.raises(function() return nn.Softmax() end, "bad argument #1 to 'Softmax' (table of options expected, got no value)")
  H.raises(function() return nn.Softmax{dim = 0} end, "'Softmax'", "count from 1")
  H.raises(function() return nn.Softmax{dim = 3}(T.zeros{2, 2}) end, "softmax", "out of range")
  H.raises(function() return nn.Identity{1} end, "bad argument #1 to 'Identity'")
  H.raises(function() return nn.Normalize{mean = {0.5}} end, "bad argument #1 to 'Normalize' (option 'std' is required)")
  H.raises(function() return nn.Normalize{mean = {0.5, "a"}, std = {1, 1}} end, "option 'mean'", "number expected at position 2")
  H.raises(function() return nn.Normalize{mean = {0.5}, std = {0}} end, "Normalize", "std must be positive")
  H.raises(function() return nn.Normalize{mean = {0.5, 0.5}, std = {1, 1}}(x) end, "Normalize", "(N, 2, ...)")
  H.raises(function() return nn.focal_loss(x, T.zeros{1, 1, 2, 2}) end, "focal_loss", "size")
  H.raises(function() return nn.focal_loss(x, T.full({1, 1, 4, 4}, 2)) end, "focal_loss", "[0, 1]")
  H.raises(function() return nn.focal_loss(x, x, "average") end, "bad argument #3 to 'focal_loss'", "reduction")
  H.raises(function() return nn.focal_loss(x) end, "bad argument #2 to 'focal_loss' (tensor expected, got no value)")

  H.raises(function() return models.unet{depth = 0} end, "bad argument #1 to 'unet'", "depth", "positive")
  H.raises(function() return models.unet{depth = 9} end, "unet: depth must be in 1...8")
  H.raises(function() return models.unet{width = 2.5} end, "bad argument #1 to 'unet'", "option 'width'", "integer expected")
  H.raises(function() return models.unet{channels = 3} end, "bad argument #1 to 'unet' (unknown option 'channels'")
  H.raises(function() return models.unet(3) end, "bad argument #1 to 'unet' (table of options expected, got number)")
  H.raises(function() return models.unet{width = 2, depth = 2}(T.zeros{1, 1, 6, 8}) end, "UNet", "multiples of 4")
  H.raises(function() return models.detector{num_classes = 0} end, "bad argument #1 to 'detector'", "num_classes", "positive")
  H.raises(function() return models.simple_cnn{mean = {0.5}} end, "bad argument #1 to 'simple_cnn'", "'mean' and 'std' go together")
  H.raises(function() return models.simple_cnn{in_channels = 3, mean = {0.5}, std = {0.5}} end, "simple_cnn", "3 normalization means")
  H.raises(function() return models.simple_cnn{depth = 3}(T.zeros{1, 3, 4, 4}) end, "SimpleCNN", "at least 8")

  local det = models.detector{num_classes = 2, width = 4}
  local out = det:eval()(T.zeros{1, 3, 16, 16})
  H.raises(function() return det(T.zeros{1, 3, 20, 16}) end, "Detector", "multiples of 16")
  H.raises(function() return det:loss(out) end, "bad argument #2 to 'loss' (list of boxes per image expected, got no value)")
  H.raises(function() return det:loss(out, {{}, {}}) end, "bad argument #2 to 'loss'", "expected 1 lists of boxes")
  H.raises(function() return det:loss(out, {{{1, 2, 3}}}) end, "bad argument #2 to 'loss'", "box 1 of image 1: y2 must be a finite number")
  H.raises(function() return det:loss(out, {{{0, 0, 4, 4, 0.5}}}) end, "class must be an integer >= 0")
  H.raises(function() return det:loss(out, {{{0, 0, 4, 4, 2}}}) end, "class 2", "0..1")
  H.raises(function() return det:loss(out, {5}) end, "expected a list of boxes per image, got a number for image 1")
  H.raises(function() return det:loss({heatmap = out.heatmap}, {{}}) end, "bad argument #1 to 'loss'", "field 'size': tensor expected, got nil")
  H.raises(function() return det:loss(T.zeros{1, 5, 4, 4}, {{}}) end, "detector heads", "for 2 classes")
  H.raises(function() return det:decode(out, {nms = 2}) end, "bad argument #2 to 'decode'", "IoU threshold must be in [0, 1]")
  H.raises(function() return det:decode(out, {nms = true}) end, "option 'nms'", "got true")
  H.raises(function() return det:decode(out, {k = 0}) end, "'decode'", "option 'k'", "positive")
  H.raises(function() return det:decode(out, {top = 3}) end, "unknown option 'top'")
  local plain = models.unet{width = 2, depth = 1}
  H.eq(plain.loss, nil, "only detectors have loss and decode")
  H.raises(function() return det.decode(plain, out) end, "calling 'decode' on bad self (detector expected, got UNet)")
end

return tests
