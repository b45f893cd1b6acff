local T = smia.tensor
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local tests = {}

function tests.constructors()
  H.same(T.zeros{2, 3}:shape(), {2, 3})
  H.same(T.zeros(2, 3):shape(), {2, 3}, "varargs sizes")
  H.eq(T.ones{4}:sum():item(), 4)
  H.same(T.full({2, 2}, 7):totable()[2], {7, 7})
  H.same(T.arange(4):totable(), {0, 1, 2, 3})
  H.same(T.arange(1, 2, 0.25):totable(), {1, 1.25, 1.5, 1.75})
  local r = T.rand({3, 4}, 42)
  H.close(r, T.rand({3, 4}, 42), 0, "rand is seeded")
  assert(r:min():item() >= 0 and r:max():item() < 1)
  H.near(T.randn({20000}, 1):mean():item(), 0, 0.05)
  H.near(T.randn({20000}, 1):std():item(), 1, 0.05)
  local t = T.from{{1, 2, 3}, {4, 5, 6}}
  H.same(t:shape(), {2, 3})
  H.same(t:totable()[2], {4, 5, 6})
  H.same(T{1, 2}:totable(), {1, 2}, "T{...} calls from")
  H.eq(T.from(3):item(), 3)
  H.same(T.from{}:shape(), {0})
  H.same(T.from{{}, {}}:shape(), {2, 0})
  H.same(T.eye(3):totable()[2], {0, 1, 0})
  H.same(T.zeros_like(t):shape(), {2, 3})
  assert(T.is_tensor(t) and not T.is_tensor({}) and smia.is_tensor(t))
end

function tests.module_and_clock()
  assert(require("smia") == smia, "require returns the global")
  local t0 = smia.clock()
  assert(type(t0) == "number" and smia.clock() >= t0)
  local rss, lua_bytes = smia.memory()
  assert(rss > 0 and lua_bytes > 0)
end

function tests.seed_without_argument()
  smia.seed(5)
  local a = T.rand{3}
  smia.seed(5)
  H.close(T.rand{3}, a, 0, "smia.seed makes rand repeatable")
end

function tests.shape_queries()
  local t = T.zeros{2, 3, 4}
  H.eq(t:dim(), 3)
  H.eq(t:numel(), 24)
  H.eq(t:size(2), 3)
  H.eq(t:size(-1), 4)
  H.same(t:size(), {2, 3, 4})
  H.eq(#t, 2)
  H.eq(T.from{5}:item(), 5)
end

function tests.arithmetic_and_broadcasting()
  local a = T.from{{1, 2}, {3, 4}}
  local b = T.from{10, 20}
  H.close(a + b, {{11, 22}, {13, 24}})
  H.close(a - 1, {{0, 1}, {2, 3}})
  H.close(1 - a, {{0, -1}, {-2, -3}})
  H.close(2 * a, {{2, 4}, {6, 8}})
  H.close(a / 2, {{0.5, 1}, {1.5, 2}})
  H.close(12 / a, {{12, 6}, {4, 3}})
  H.close(-a, {{-1, -2}, {-3, -4}})
  H.close(a ^ 2, {{1, 4}, {9, 16}})
  H.close(2 ^ a, {{2, 4}, {8, 16}})
  H.close(a:add(b), a + b)
  H.close(a:mul(a), a ^ 2)
  H.close(a:matmul(a), {{7, 10}, {15, 22}})
  H.close(T.matmul(a, T.eye(2)), a)
end

function tests.elementwise()
  local x = T.from{-2, -0.5, 0, 0.5, 2}
  H.close(x:abs(), {2, 0.5, 0, 0.5, 2})
  H.close(x:sign(), {-1, -1, 0, 1, 1})
  H.close(x:relu(), {0, 0, 0, 0.5, 2})
  H.close(x:clamp(-1, 1), {-1, -0.5, 0, 0.5, 1})
  H.close(x:clamp(nil, 0), {-2, -0.5, 0, 0, 0})
  H.close(x:clamp(0), {0, 0, 0, 0.5, 2})
  H.close(x:exp():log(), x, 1e-5)
  H.close((x * x):sqrt(), x:abs(), 1e-6)
  H.close(x:sigmoid(), {1 / (1 + math.exp(2)), 1 / (1 + math.exp(0.5)), 0.5, 1 / (1 + math.exp(-0.5)), 1 / (1 + math.exp(-2))})
  H.close(x:tanh(), {math.tanh(-2), math.tanh(-0.5), 0, math.tanh(0.5), math.tanh(2)})
  H.close(x:pow(3), {-8, -0.125, 0, 0.125, 8})
  H.close(T.minimum(x, 0), {-2, -0.5, 0, 0, 0})
  H.close(T.maximum(x, T.zeros{5}), x:relu())
  H.close(x:gt(0), {0, 0, 0, 1, 1})
  H.close(x:le(0), {1, 1, 1, 0, 0})
  H.close(x:eq(T.from{-2, 0, 0, 0, 2}), {1, 0, 1, 0, 1})
  H.close(T.where(x:gt(0), x, 0), x:relu())
  H.close(T.where(x:gt(0), 1, -1), {-1, -1, -1, 1, 1})
  assert(x:equal(x:clone()) and not x:equal(x + 1))
  assert(T.from{1, 0 / 0}:has_nan() and not x:has_nan())
end

function tests.reductions()
  local t = T.from{{1, 5, 3}, {4, 2, 6}}
  H.eq(t:sum():item(), 21)
  H.near(t:mean():item(), 3.5)
  H.eq(t:max():item(), 6)
  H.eq(t:min():item(), 1)
  H.close(t:sum(1), {5, 7, 9})
  H.close(t:sum(2), {9, 12})
  H.same(t:sum(2, true):shape(), {2, 1})
  H.close(t:mean(-1), {3, 4})
  local v, i = t:max(2)
  H.close(v, {5, 6})
  H.close(i, {1, 2}, 0, "max indices are 0-based")
  v, i = t:min(1)
  H.close(v, {1, 2, 3})
  H.close(i, {0, 1, 0})
  H.close(t:argmax(2), {1, 2}, 0, "argmax gives 0-based class labels")
  H.close(t:argmin(2), {0, 1})
  H.eq(t:argmax():item(), 5, "flat argmax")
  H.near(T.from{1, 2, 3, 4}:var():item(), 5 / 3)
  H.near(T.from{1, 2, 3, 4}:var(nil, false):item(), 1.25)
  H.close(t:var(2), {4, 4})
  H.close(T.from{{3, 4}, {6, 8}}:norm(), {5, 10})
  H.close(T.from{{3, -4}, {6, 8}}:norm(1), {7, 14})
  H.close(T.from{{3, -4}, {6, 8}}:norm(math.huge), {4, 8})
  -- labels compare with predictions
  local logits = T.from{{0.1, 2, 0.3}, {3, 0, 1}}
  local y = T.from{1, 0}
  H.eq(logits:argmax(2):eq(y):sum():item(), 2)
end

function tests.shapes()
  local t = T.arange(24):reshape{2, 3, 4}
  H.same(t:reshape(6, -1):shape(), {6, 4})
  H.same(t:view{4, 6}:shape(), {4, 6})
  H.same(t:permute{3, 1, 2}:shape(), {4, 2, 3})
  H.eq(t:permute(3, 1, 2)[{2, 1, 3}], t[{1, 3, 2}])
  H.same(t:transpose(1, 3):shape(), {4, 3, 2})
  H.same(t:flatten():shape(), {24})
  H.same(t:flatten(2):shape(), {2, 12})
  H.same(t:unsqueeze(1):shape(), {1, 2, 3, 4})
  H.same(t:unsqueeze(-1):shape(), {2, 3, 4, 1})
  H.same(t:unsqueeze(1):squeeze():shape(), {2, 3, 4})
  H.same(T.zeros{1, 3, 1}:squeeze(3):shape(), {1, 3})
  local m = T.arange(12):reshape{3, 4}
  H.close(m:slice(2, 2, 3), {{1, 2}, {5, 6}, {9, 10}}, 0, "slice is inclusive, 1-based")
  H.close(m:slice(1, 2), {{4, 5, 6, 7}, {8, 9, 10, 11}}, 0, "slice to the end")
  H.close(m:slice(2, 1, -1, 2), {{0, 2}, {4, 6}, {8, 10}}, 0, "slice with a step")
  H.same(m:slice(1, 2, 1):shape(), {0, 4}, "empty slice")
  H.close(m:narrow(2, 3, 2), {{2, 3}, {6, 7}, {10, 11}})
  H.close(m:select(1, 2), {4, 5, 6, 7})
  H.close(m:select(2, -1), {3, 7, 11})
  H.close(m:index(2, T.from{4, 1}), {{3, 0}, {7, 4}, {11, 8}}, 0, "index takes 1-based positions")
  H.close(m:index(1, {3, 3}), {{8, 9, 10, 11}, {8, 9, 10, 11}})
  H.close(T.cat({m, m}, 1):sum(1), m:sum(1) * 2)
  H.same(T.cat({m, m}, 2):shape(), {3, 8})
  H.same(T.cat{m, m}:shape(), {6, 4})
  H.same(T.stack({m, m}, 1):shape(), {2, 3, 4})
  H.same(T.stack({m, m}, 3):shape(), {3, 4, 2})
  local p = T.ones{1, 1, 2, 2}:pad({1, 1, 2, 0}, -1)
  H.same(p:shape(), {1, 1, 4, 4})
  H.eq(p:sum():item(), 4 - 12)
end

function tests.indexing()
  local m = T.arange(6):reshape{2, 3}
  H.close(m[2], {3, 4, 5})
  H.eq(m[2][3], 5)
  H.eq(m[-1][-1], 5)
  H.eq(m[{2, 1}], 3)
  H.close(m[{1}], {0, 1, 2})
  m[1] = 9
  H.close(m, {{9, 9, 9}, {3, 4, 5}})
  m[2] = T.from{7, 8, 9}
  m[{2, 2}] = -1
  H.close(m, {{9, 9, 9}, {7, -1, 9}})
  local v = T.zeros{3}
  for i = 1, 3 do v[i] = i * i end
  H.close(v, {1, 4, 9})
  H.eq(m.nonexistent, nil)
end

function tests.in_place()
  local t = T.ones{2, 2}
  local same = t:add_(1)
  assert(rawequal(same, t), "in-place methods return self")
  H.close(t, {{2, 2}, {2, 2}})
  t:mul_(T.from{1, 2})
  H.close(t, {{2, 4}, {2, 4}})
  t:sub_(1):div_(2)
  H.close(t, {{0.5, 1.5}, {0.5, 1.5}})
  t:copy_(T.from{{1, 2}, {3, 4}})
  H.close(t, {{1, 2}, {3, 4}})
  t:clamp_(2, 3)
  H.close(t, {{2, 2}, {3, 3}})
  t:fill_(5)
  H.eq(t:sum():item(), 20)
  t:zero_()
  H.eq(t:sum():item(), 0)
  local d = T.ones{3}
  local c = d:clone()
  d:add_(1)
  H.close(c, {1, 1, 1}, 0, "clone is independent")
  local e = d:detach()
  d:add_(1)
  H.close(e, {2, 2, 2}, 0, "detach keeps the values at that time")
end

function tests.methods_can_be_added()
  local methods = getmetatable(T.zeros{1}).methods
  methods.double = function(t) return t * 2 end
  H.close(T.from{1, 2}:double(), {2, 4})
  methods.double = nil
end

function tests.requires_grad_flag()
  local t = T.zeros{2}
  assert(not t:requires_grad())
  assert(t:requires_grad_():requires_grad())
  t:requires_grad_(false)
  assert(not t:requires_grad())
end

function tests.softmax()
  local x = T.from{{1, 2, 3}, {1, 1, 1}}
  local s = x:softmax(2)
  H.close(s:sum(2), {1, 1})
  H.close(x:log_softmax(2):exp(), s, 1e-6)
  H.close(s[2], {1 / 3, 1 / 3, 1 / 3})
end

function tests.empty_and_scalar_edges()
  local nn = smia.nn
  H.same(T.matmul(T.zeros{2, 0}, T.zeros{0, 2}):shape(), {2, 2})
  H.same(nn.linear(T.zeros{0, 3}, T.zeros{2, 3}):shape(), {0, 2})
  H.same(nn.conv2d(T.zeros{0, 1, 4, 4}, T.zeros{1, 1, 3, 3}):shape(), {0, 1, 2, 2})
  H.same(T.zeros{3, 0}:max(1):shape(), {0})
  H.same(T.zeros{0, 3}:softmax(2):shape(), {0, 3})
  H.same(T.zeros{2, 0}:norm():shape(), {2})
  H.same(T.from(3):flatten():shape(), {1})
  H.same(T.from(1):transpose(1, 1):shape(), {})
  H.same(T.zeros{2}:index(1, T.zeros{0}):shape(), {0})
  H.same(T.stack{T.from(1), T.from(2)}:shape(), {2})
  local g = smia.autograd.grad(function(x) return nn.conv2d(x, T.ones{1, 1, 1, 1}):sum() end)(T.zeros{0, 1, 2, 2})
  H.same(g:shape(), {0, 1, 2, 2})
end

function tests.printing()
  local s = tostring(T.from{{1, 2, 3}, {4, 5, 6}})
  H.eq(s, " 1  2  3\n 4  5  6\n[Tensor of size 2x3]")
  s = tostring(T.from{{0.1, 0.2}, {0.3, 0.4}})
  H.eq(s, " 0.1000  0.2000\n 0.3000  0.4000\n[Tensor of size 2x2]")
  s = tostring(T.from{1.5, -2})
  H.eq(s, " 1.5000\n-2.0000\n[Tensor of size 2]")
  s = tostring(T.from{0.001, 0.002})
  assert(s:find("0.001 *", 1, true) and s:find("1.0000", 1, true), s)
  s = tostring(T.from{1e-8, 1})
  assert(s:find("e-08", 1, true), s)
  s = tostring(T.zeros{2, 2, 2})
  assert(s:find("(1,.,.) = ", 1, true) and s:find("(2,.,.) = ", 1, true) and s:find("[Tensor of size 2x2x2]", 1, true), s)
  s = tostring(T.arange(100000):reshape{1000, 100})
  assert(s:find("...", 1, true) and s:find("[Tensor of size 1000x100]", 1, true), s)
  assert(#s < 2000, "long tensors are elided")
  s = tostring(T.arange(5000))
  assert(select(2, s:gsub("\n", "")) < 10, s)
  H.eq(tostring(T.from(2.5)), " 2.5000\n[scalar Tensor]")
  H.eq(tostring(T.zeros{0, 3}), "[Tensor of size 0x3]")
  s = tostring(T.from{1, 0 / 0, math.huge})
  assert(s:find("nan", 1, true) and s:find("inf", 1, true), s)
  s = tostring(T.ones{2, 40} * 0.5)
  assert(s:find("Columns 1 to", 1, true), "wide matrices are split into column blocks")
end

return tests
