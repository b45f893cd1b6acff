local T, nn, autograd = smia.tensor, smia.nn, smia.autograd
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local tests = {}

--- grad(f)(x) against central differences; f maps a tensor to a scalar tensor.
local function check(f, x, tol, eps)
  local g, value = autograd.grad(f)(x)
  H.near(value, f(x):item(), 1e-6, "value")
  local numeric = H.numeric_grad(f, x, eps or 1e-2)
  local err = H.rel_l2(g, numeric)
  if err > (tol or 1e-2) then
    error(("gradient differs from finite differences by %.3g\nanalytic\n%s\nnumeric\n%s"):format(err, tostring(g), tostring(numeric)), 2)
  end
end

function tests.square()
  local x = T.from{1, -2, 3}
  local g, v = autograd.grad(function(x) return (x * x):sum() end)(x)
  H.close(g, {2, -4, 6})
  H.eq(v, 14)
  assert(math.type(v) == "float", "the value is a number")
end

-- Inputs keep away from kinks (clamp bounds, |x - 1|, ties of max) by more than the step.
function tests.finite_differences_elementwise()
  local x = T.from{{0.55, 0.8, 0.95}, {1.1, 1.3, 1.45}}
  check(function(x) return (x:sigmoid() * x:exp() + x:tanh() / x):mean() end, x)
  check(function(x) return (x:log() + x:sqrt() * 3 - x ^ 3):sum() end, x)
  check(function(x) return (x:clamp(0.7, 1.2) + (x - 1):abs() * 2):sum() end, x)
  check(function(x) return T.maximum(x, 1):sum() + T.where(x:gt(1), x * x, -x):sum() end, x)
end

local function distinct(shape)
  local n, values = 1, {}
  for _, d in ipairs(shape) do n = n * d end
  for i = 1, n do values[i] = ((i * 7) % n) / n + 0.1 end
  return T.from(values):reshape(shape)
end

function tests.finite_differences_shapes_and_reductions()
  local x = distinct{2, 3, 4}
  check(function(x) return (x:permute{3, 1, 2}:reshape{4, 6} * T.arange(6)):sum() end, x)
  check(function(x) return x:slice(3, 2, 4):pow(2):sum() + x:select(2, 1):sum() * 3 end, x)
  check(function(x) return x:max(3):sum() + x:min():mul(5) + x:var(2):sum() end, x)
  check(function(x) return T.cat({x, x * 2}, 2):index(2, {1, 6}):sum() + T.stack{x, x}:mean() end, x)
  check(function(x) return x:softmax(3):mul(T.arange(4)):sum() + x:log_softmax(1):select(1, 1):sum() end, x)
  check(function(x) return x:norm(2):sum() + x:pad({1, 1}, 3):sum() end, x)
  check(function(x) return x:reshape{6, 4}:matmul(T.ones{4, 2} * 0.5):pow(2):sum() end, x)
end

function tests.finite_differences_networks()
  smia.seed(1)
  local x = T.rand({2, 2, 6, 6}, 3)
  local w = T.randn({3, 2, 3, 3}, 4) * 0.3
  local y = T.from{0, 2}
  check(function(x)
    local h = nn.conv2d(x, w, T.from{0.1, 0, -0.1}, {padding = 1}):relu()
    h = nn.max_pool2d(h, 2)
    return nn.cross_entropy(nn.adaptive_avg_pool2d(h, 1):flatten(2), y)
  end, x, 2e-2, 1e-3)
  check(function(x) return nn.gaussian_blur(x, 3, 1):pow(2):sum() + nn.avg_pool2d(x, 2):sum() end, x)
  local lin = T.randn({4, 5}, 5)
  check(function(v) return nn.cross_entropy(nn.linear(v, lin), T.from{1, 3, 0}) end, T.randn({3, 5}, 6))
end

function tests.table_of_tensors()
  local a, b = T.from{1, 2}, T.from{3}
  local df = autograd.grad(function(p) return (p[1] * p[2]):sum() + (p.extra.c * 2):sum() end)
  local g = df({a, b, extra = {c = T.ones{2, 2}}})
  H.close(g[1], {3, 3})
  H.close(g[2], {3})
  H.close(g.extra.c, T.full({2, 2}, 2))
  local named = autograd.grad(function(p) return (p.w * p.w):sum() end)({w = T.from{1, 2, 3}})
  H.close(named.w, {2, 4, 6})
end

function tests.module_parameters()
  smia.seed(2)
  local m = nn.Sequential{nn.Linear{4, 3}, nn.ReLU(), nn.Linear{3, 2}}
  local x, y = T.randn({5, 4}, 1), T.from{0, 1, 1, 0, 1}
  local params = m:parameters()
  local loss = function(_, x, y) return nn.cross_entropy(m(x), y) end
  local g, value = autograd.grad(loss)(params, x, y)
  H.eq(#g, 4)
  H.near(value, loss(nil, x, y):item(), 1e-6)
  for i, p in ipairs(params) do H.same(g[i]:shape(), p:shape()) end
  -- one weight against finite differences
  local w = params[3]
  local eps = 1e-2
  local saved = w[{2, 1}]
  w[{2, 1}] = saved + eps
  local up = loss(nil, x, y):item()
  w[{2, 1}] = saved - eps
  local down = loss(nil, x, y):item()
  w[{2, 1}] = saved
  H.near(g[3][{2, 1}], (up - down) / (2 * eps), 1e-2, "d loss / d w[2][1]")
  -- named parameters work the same way
  local gn = autograd.grad(function(p, x, y) return nn.cross_entropy(m(x), y) end)(m:named_parameters(), x, y)
  H.close(gn["2.weight"], g[3], 1e-6)
  -- a training step changes the model
  for i, p in ipairs(params) do p:sub_(g[i] * 0.5) end
  assert(loss(nil, x, y):item() < value, "a gradient step lowers the loss")
end

function tests.gradient_wrt_input_of_a_model()
  smia.seed(3)
  local m = nn.Sequential{nn.Conv2d{1, 2, 3, padding = 1}, nn.ReLU(), nn.Flatten(), nn.Linear{2 * 16, 3}}
  m:eval()
  local y = T.from{2}
  check(function(x) return nn.cross_entropy(m(x), y) end, T.rand({1, 1, 4, 4}, 9), 2e-2)
end

function tests.extra_results_and_value_and_grad()
  local x = T.from{1, 2}
  local g, v, extra, more = autograd.grad(function(x) return x:sum(), "aux", 7 end)(x)
  H.close(g, {1, 1})
  H.eq(v, 3)
  H.eq(extra, "aux")
  H.eq(more, 7)
  local v2, g2 = autograd.value_and_grad(function(x) return (x * 3):sum() end)(x)
  H.eq(v2, 9)
  H.close(g2, {3, 3})
end

function tests.flags_restored()
  local x = T.from{1, 2}
  autograd.grad(function(x) return x:sum() end)(x)
  assert(not x:requires_grad(), "requires_grad is restored")
  local m = nn.Linear{2, 1}
  autograd.grad(function(p) return m(T.ones{1, 2}):sum() end)(m:parameters())
  assert(m.weight:requires_grad(), "parameters stay trainable")
  pcall(autograd.grad(function(x) error("boom") end), x)
  assert(not x:requires_grad(), "restored after an error too")
end

function tests.no_grad()
  local x = T.from{1, 2}
  local a, b = smia.no_grad(function(u, k) return u * k, "second" end, x, 3)
  H.close(a, {3, 6})
  H.eq(b, "second")
  -- nothing recorded inside no_grad: no gradient flows through
  local g = autograd.grad(function(x) return smia.no_grad(function() return (x * x):sum() end) + x:sum() end)(x)
  H.close(g, {1, 1})
  -- grad works when called inside no_grad
  local g2 = smia.no_grad(function() return autograd.grad(function(x) return (x * x):sum() end)(x) end)
  H.close(g2, {2, 4})
end

function tests.unused_input_has_zero_gradient()
  local g = autograd.grad(function(p) return p.a:sum() end)({a = T.ones{2}, b = T.ones{3}})
  H.close(g.b, {0, 0, 0})
end

function tests.gradient_reuse()
  -- the same df many times, and nested grads of different functions
  local df = autograd.grad(function(x) return (x * x):sum() end)
  for i = 1, 20 do H.close(df(T.from{i}), {2 * i}) end
  local outer = autograd.grad(function(x)
    local inner = autograd.grad(function(z) return (z * z * z):sum() end)(x:detach())
    return (x * inner):sum()
  end)(T.from{2})
  H.close(outer, {12})
end

return tests
