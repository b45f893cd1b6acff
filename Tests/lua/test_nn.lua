local T, nn = smia.tensor, smia.nn
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local tests = {}

function tests.conv2d_functional()
  local x = T.arange(16):reshape{1, 1, 4, 4}
  local w = T.ones{1, 1, 2, 2}
  H.close(nn.conv2d(x, w), {{{{10, 14, 18}, {26, 30, 34}, {42, 46, 50}}}})
  H.close(nn.conv2d(x, w, T.from{1}, {stride = 2}), {{{{11, 19}, {43, 51}}}})
  H.close(nn.conv2d(x, w, {stride = {2, 3}}), {{{{10}, {42}}}}, 0, "options in third place")
  H.same(nn.conv2d(x, w, nil, {padding = 1}):shape(), {1, 1, 5, 5})
  H.same(nn.conv2d(x, T.ones{1, 1, 3, 3}, nil, {dilation = 2, padding = 2}):shape(), {1, 1, 4, 4})
  local x2 = T.ones{1, 2, 3, 3}
  H.same(nn.conv2d(x2, T.ones{4, 1, 3, 3}, nil, {groups = 2, padding = 1}):shape(), {1, 4, 3, 3})
end

function tests.pooling_functional()
  local x = T.arange(16):reshape{1, 1, 4, 4}
  H.close(nn.max_pool2d(x, 2), {{{{5, 7}, {13, 15}}}})
  H.close(nn.avg_pool2d(x, 2), {{{{2.5, 4.5}, {10.5, 12.5}}}})
  H.close(nn.max_pool2d(x, {kernel_size = 3, stride = 1}), {{{{10, 11}, {14, 15}}}})
  H.same(nn.max_pool2d(x, {3, 2, 1}):shape(), {1, 1, 2, 2})
  H.same(nn.max_pool2d(T.zeros{1, 1, 5, 5}, {kernel_size = 2, ceil_mode = true}):shape(), {1, 1, 3, 3})
  H.close(nn.adaptive_avg_pool2d(x, 1), {{{{7.5}}}})
  H.same(nn.adaptive_avg_pool2d(x, {2, 1}):shape(), {1, 1, 2, 1})
end

function tests.activations_and_losses()
  local x = T.from{{1, 2, 3}, {0, 0, 0}}
  H.close(nn.relu(x - 1), {{0, 1, 2}, {0, 0, 0}})
  H.close(nn.softmax(x, 2):sum(2), {1, 1})
  H.close(nn.log_softmax(x, 2), x:log_softmax(-1))
  H.close(nn.sigmoid(T.zeros{2}), {0.5, 0.5})
  H.close(nn.tanh(T.zeros{2}), {0, 0})
  H.close(nn.leaky_relu(T.from{-1, 1}, 0.1), {-0.1, 1})
  local y = T.from{2, 0}
  local ce = nn.cross_entropy(x, y)
  local lp = x:log_softmax(2)
  H.near(ce:item(), -(lp[1][3] + lp[2][1]) / 2)
  H.near(nn.cross_entropy(x, y, "sum"):item(), ce:item() * 2)
  H.close(nn.cross_entropy(x, y, {reduction = "none"}), {-lp[1][3], -lp[2][1]})
  H.near(nn.cross_entropy(x, T.from{{0, 0, 1}, {1, 0, 0}}):item(), ce:item(), 1e-6, "probability targets")
  -- per pixel
  H.eq(nn.cross_entropy(T.zeros{2, 3, 4, 4}, T.zeros{2, 4, 4}):numel(), 1)
  H.near(nn.mse_loss(T.from{1, 2}, T.from{1, 4}):item(), 2)
end

function tests.linear_and_batch_norm()
  local x = T.from{{1, 2}}
  local w = T.from{{1, 0}, {0, 1}, {1, 1}}
  H.close(nn.linear(x, w), {{1, 2, 3}})
  H.close(nn.linear(x, w, T.from{1, 1, 1}), {{2, 3, 4}})
  local z = T.rand({4, 3, 2, 2}, 1)
  local bn = nn.batch_norm(z, T.zeros{3}, T.ones{3})
  H.close(bn, z / math.sqrt(1 + 1e-5), 1e-6, "eval mode uses the running statistics")
  local rm, rv = T.zeros{3}, T.ones{3}
  local y = nn.batch_norm(z, rm, rv, T.ones{3}, T.zeros{3}, true)
  H.close(y:mean(1):mean(-1):mean(-1), {0, 0, 0}, 1e-5)
  assert(rm:abs():sum():item() > 0, "training updates the running mean in place")
end

function tests.gaussian()
  local k = nn.gaussian_kernel(5, 1)
  H.same(k:shape(), {5, 5})
  H.near(k:sum():item(), 1, 1e-6)
  H.eq(k:argmax():item(), 12, "the center is the largest")
  local x = T.ones{1, 2, 8, 8}
  local b = nn.gaussian_blur(x, 5, 1)
  H.same(b:shape(), {1, 2, 8, 8})
  H.near(b[{1, 1, 4, 4}], 1, 1e-6, "interior of a constant image is unchanged")
  assert(b[{1, 1, 1, 1}] < 1, "zero padding at the border")
end

function tests.layers()
  smia.seed(1)
  local conv = nn.Conv2d{in_channels = 1, out_channels = 4, kernel_size = 3, padding = 1}
  H.same(conv(T.zeros{2, 1, 5, 5}):shape(), {2, 4, 5, 5})
  H.same(conv:forward(T.zeros{2, 1, 5, 5}):shape(), {2, 4, 5, 5})
  local c2 = nn.Conv2d{1, 4, 3, padding = 1, bias = false}
  H.eq(#c2:parameters(), 1)
  H.same(c2.weight:shape(), {4, 1, 3, 3})
  H.eq(c2.bias, nil)
  local c3 = nn.Conv2d{2, 4, {3, 1}, stride = {2, 1}, groups = 2}
  H.same(c3.weight:shape(), {4, 1, 3, 1})
  H.same(nn.BatchNorm2d{4}(T.rand({2, 4, 3, 3}, 2)):shape(), {2, 4, 3, 3})
  H.same(nn.BatchNorm2d{num_features = 4, eps = 1e-3, momentum = 0.2}.running_var:shape(), {4})
  H.close(nn.ReLU()(T.from{-1, 1}), {0, 1})
  H.close(nn.ReLU{}(T.from{-1, 1}), {0, 1})
  H.same(nn.MaxPool2d(2)(T.zeros{1, 1, 4, 4}):shape(), {1, 1, 2, 2})
  H.same(nn.MaxPool2d{kernel_size = 3, stride = 2, padding = 1}(T.zeros{1, 1, 8, 8}):shape(), {1, 1, 4, 4})
  H.same(nn.AvgPool2d{2}(T.zeros{1, 1, 4, 4}):shape(), {1, 1, 2, 2})
  H.same(nn.AdaptiveAvgPool2d{1}(T.zeros{1, 3, 4, 4}):shape(), {1, 3, 1, 1})
  H.same(nn.AdaptiveAvgPool2d{output_size = {2, 3}}(T.zeros{1, 3, 4, 6}):shape(), {1, 3, 2, 3})
  local lin = nn.Linear{in_features = 3, out_features = 2}
  H.same(lin(T.zeros{5, 3}):shape(), {5, 2})
  H.same(nn.Linear{3, 2, bias = false}:parameters()[1]:shape(), {2, 3})
  H.same(nn.Flatten()(T.zeros{2, 3, 4}):shape(), {2, 12})
  H.same(nn.Flatten{start_dim = 3}(T.zeros{2, 3, 4, 5}):shape(), {2, 3, 20})
  local drop = nn.Dropout{p = 0.5}
  local ones = T.ones{1000}
  local dropped = drop(ones)
  H.near(dropped:mean():item(), 1, 0.15)
  assert(dropped:eq(0):sum():item() > 300, "training mode drops values")
  drop:eval()
  H.close(drop(ones), ones, 0, "eval mode keeps values")
end

local function small_cnn()
  return nn.Sequential{
    nn.Conv2d{1, 4, 3, padding = 1}, nn.BatchNorm2d{4}, nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear{4 * 4 * 4, 3},
  }
end

function tests.sequential()
  smia.seed(3)
  local m = small_cnn()
  H.eq(#m, 6)
  H.eq(m[1]:type(), "Conv2d")
  H.eq(m:get(6):type(), "Linear")
  local y = m(T.rand({2, 1, 8, 8}, 1))
  H.same(y:shape(), {2, 3})
  local names = select(2, m:named_parameters())
  H.same(names, {"0.weight", "0.bias", "1.weight", "1.bias", "5.weight", "5.bias"})
  local sd, keys = m:state_dict()
  H.eq(#keys, 9)
  assert(sd["1.running_mean"] and sd["1.num_batches_tracked"], "state_dict has the buffers")
  local kids, kid_names = m:children()
  H.eq(#kids, 6)
  H.same(kid_names, {"0", "1", "2", "3", "4", "5"})
  local s2 = nn.Sequential(nn.Linear{2, 2}, nn.ReLU())
  H.eq(#s2, 2)
  s2:add(nn.Linear{2, 1})
  H.eq(#s2, 3)
  -- A cycle would send every walk over the children round it until the stack overflows.
  H.raises(function() s2:add(s2) end, "bad argument #1 to 'add'", "a module cannot contain itself")
  H.raises(function() s2:add(nn.Sequential{nn.ReLU(), nn.Sequential{s2}}) end, "a module cannot contain itself")
  H.eq(#s2, 3, "a refused add changes nothing")
  local shared = nn.ReLU()
  H.eq(#nn.Sequential{shared}:add(shared), 2, "the same module twice is no cycle")
  H.same(s2(T.zeros{4, 2}):shape(), {4, 1})
  H.eq(#nn.Sequential{}, 0)
  assert(smia.is_module(m) and not smia.is_module(T.zeros{1}))
end

function tests.parameters_are_live()
  smia.seed(4)
  local m = small_cnn()
  m:eval()
  local x = T.rand({2, 1, 8, 8}, 5)
  local before = m(x)
  for _, p in ipairs(m:parameters()) do p:zero_() end
  H.close(m(x), T.zeros{2, 3}, 0, "zeroed parameters change the model")
  m[6].bias:copy_(T.from{1, 2, 3})
  H.close(m(x), {{1, 2, 3}, {1, 2, 3}})
  local sd = m:state_dict()
  sd["5.bias"]:add_(1)
  H.close(m(x), {{2, 3, 4}, {2, 3, 4}})
  assert(not before:equal(m(x)))
end

function tests.load_state_dict()
  smia.seed(6)
  local a, b = small_cnn(), small_cnn()
  a:eval(); b:eval()
  local x = T.rand({1, 1, 8, 8}, 7)
  assert(not a(x):equal(b(x)))
  b:load_state_dict(a:state_dict())
  H.close(b(x), a(x), 0)
end

function tests.train_eval()
  local m = small_cnn()
  assert(m:is_training())
  assert(rawequal(m:eval(), m))
  assert(not m:is_training() and not m[2]:is_training(), "eval reaches the children")
  m:train()
  assert(m[2]:is_training())
  m:train(false)
  assert(not m[2]:is_training())
end

function tests.printing()
  local s = tostring(small_cnn())
  assert(s:find("Sequential(", 1, true), s)
  assert(s:find("(0): Conv2d(1, 4, kernel_size=(3, 3), padding=(1, 1))", 1, true), s)
  assert(s:find("(5): Linear(in_features=64, out_features=3, bias=true)", 1, true), s)
end

function tests.models()
  smia.seed(0)
  local m = smia.models.resnet18{num_classes = 5, in_channels = 1}
  m:eval()
  H.same(m(T.rand({1, 1, 32, 32}, 1)):shape(), {1, 5})
  H.same(m.fc.weight:shape(), {5, 512})
  H.same(m.layer1[1].conv1.weight:shape(), {64, 64, 3, 3})
  local _, names = m:state_dict()
  H.eq(names[1], "conv1.weight")
  H.eq(names[#names], "fc.bias")
  -- torchvision's resnet18 has 11,689,512 parameters for 3 channels and 1000 classes.
  H.eq(m:num_parameters(), 11689512 - 3 * 64 * 49 + 64 * 49 - 513 * 1000 + 513 * 5)
  H.eq(m:type(), "ResNet18")
  H.same(smia.models.resnet34{num_classes = 2}.fc.weight:shape(), {2, 512})
  H.same(smia.models.resnet50{num_classes = 2}.fc.weight:shape(), {2, 2048})
end

return tests
