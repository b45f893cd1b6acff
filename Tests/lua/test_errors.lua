-- Bad calls: each must raise a Lua error (not crash) whose message names the function and what
-- it expected, and the state must work normally afterwards.
local T, nn, autograd = smia.tensor, smia.nn, smia.autograd
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local x = T.rand({1, 1, 8, 8}, 1)
local w = T.rand({2, 1, 3, 3}, 2)
local t = T.arange(6):reshape{2, 3}
local logits = T.from{{1, 2, 3}}
local y = T.from{2}
local function cnn()
  return nn.Sequential{nn.Conv2d{1, 2, 3, padding = 1}, nn.ReLU(), nn.Flatten(), nn.Linear{2 * 8 * 8, 3}}
end
local m = cnn()
local tmp = H.tmpdir()
local function file(name, bytes)
  local path = tmp .. "/" .. name
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  return path
end
local function le64(n)
  local s = {}
  for i = 1, 8 do s[i] = string.char(n % 256); n = n // 256 end
  return table.concat(s)
end
local good_header = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'

-- {name, function, fragments the message must contain...}
local cases = {
  -- tensor constructors
  {"zeros without sizes", function() return T.zeros() end, "bad argument #1 to 'zeros'", "expected, got no value"},
  {"zeros negative size", function() return T.zeros{2, -1} end, "'zeros'", "size -1"},
  {"zeros fractional size", function() return T.zeros{2, 1.5} end, "'zeros'", "integer expected at position 2"},
  {"zeros string size", function() return T.zeros{"a"} end, "'zeros'", "got string 'a'"},
  {"zeros NaN size", function() return T.zeros{0 / 0} end, "'zeros'", "integer expected"},
  {"zeros too large", function() return T.zeros{1e6, 1e6, 1e6} end, "too large"},
  {"full nil value", function() return T.full({2}, nil) end, "bad argument #2 to 'full' (number expected, got nil)"},
  {"full sizes not a table", function() return T.full(2, 1) end, "bad argument #1 to 'full' (table of sizes expected, got number)"},
  {"rand string seed", function() return T.rand({2}, "x") end, "bad argument #2 to 'rand' (number expected, got string)"},
  {"rand fractional seed", function() return T.rand({2}, 1.5) end, "bad argument #2 to 'rand' (number has no integer representation)"},
  {"from ragged", function() return T.from{{1, 2}, {3}} end, "bad argument #1 to 'from'", "ragged", "[2] has 1 entries, expected 2"},
  {"from string entry", function() return T.from{1, "a"} end, "'from'", "number expected at [2], got string 'a'"},
  {"from nil", function() return T.from(nil) end, "bad argument #1 to 'from' (table of numbers expected, got nil)"},
  {"from mixed depth", function() return T.from{{1}, 2} end, "'from'", "table expected at [2], got number 2"},
  {"arange negative", function() return T.arange(-1) end, "arange", "count >= 0"},
  {"arange zero step", function() return T.arange(0, 1, 0) end, "arange", "nonzero step"},
  {"arange NaN stop", function() return T.arange(0, 0 / 0) end, "bad argument #2 to 'arange'", "NaN"},
  {"cat of nothing", function() return T.cat({}, 1) end, "cat", "at least one tensor"},
  {"cat of a number", function() return T.cat{t, 5} end, "bad argument #1 to 'cat'", "tensor expected at position 2, got number"},
  {"cat mismatched sizes", function() return T.cat({T.zeros{2, 3}, T.zeros{3, 3}}, 2) end, "cat: tensor 2 has size 3x3"},
  {"stack mismatched sizes", function() return T.stack{T.zeros{2}, T.zeros{3}} end, "stack: tensor 2 has size 3"},
  {"where condition not a tensor", function() return T.where(1, t, t) end, "bad argument #1 to 'where' (tensor expected, got number)"},
  {"matmul mismatch", function() return T.matmul(t, t) end, "matmul", "do not match"},

  -- tensor operators and methods
  {"add a string", function() return t + "x" end, "bad argument #2 to '__add' (tensor or number expected, got string)"},
  {"add unbroadcastable", function() return t + T.zeros{4} end, "add: sizes 2x3 and 4 cannot be broadcast"},
  {"mul a table", function() return {} * t end, "bad argument #1 to '__mul'", "got table"},
  {"reshape wrong count", function() return t:reshape{5} end, "reshape", "cannot reshape size 2x3"},
  {"reshape two -1", function() return t:reshape{-1, -1} end, "reshape: invalid shape"},
  {"sum dimension too large", function() return t:sum(3) end, "bad argument #1 to 'sum' (dimension 3 out of range"},
  {"sum dimension 0", function() return t:sum(0) end, "bad argument #1 to 'sum' (dimension 0 out of range"},
  {"sum string dimension", function() return t:sum("x") end, "bad argument #1 to 'sum' (number expected, got string)"},
  {"item of many", function() return t:item() end, "item: expected a tensor with one element, got size 2x3"},
  {"slice start 0", function() return t:slice(1, 0, 1) end, "bad argument #2 to 'slice' (position 0 out of range"},
  {"slice zero step", function() return t:slice(1, 1, 2, 0) end, "bad argument #4 to 'slice' (step must be positive"},
  {"slice start past the end", function() return t:slice(1, 4, 4) end, "bad argument #2 to 'slice' (position 4 out of range for a dimension of size 2)"},
  {"slice stop before start", function() return t:slice(2, 3, 1) end, "bad argument #3 to 'slice' (stop 1 is before start 3)"},
  {"select out of range", function() return t:select(1, 5) end, "bad argument #2 to 'select' (index 5 out of range"},
  {"index position 0", function() return t:index(1, T.from{0}) end, "bad argument #2 to 'index' (position 0.0 out of range 1..2"},
  {"index NaN position", function() return t:index(1, T.from{0 / 0}) end, "bad argument #2 to 'index'", "out of range"},
  {"index with a string", function() return t:index(1, "x") end, "bad argument #2 to 'index' (tensor or table of positions expected, got string)"},
  {"permute repeated", function() return t:permute{1, 1} end, "permute: expected a permutation"},
  {"transpose bad dim", function() return t:transpose(1, 4) end, "bad argument #2 to 'transpose' (dimension 4 out of range"},
  {"index out of range", function() return t[3] end, "tensor index 3 out of range for dimension 1 of size 2"},
  {"index fractional", function() return t[1.5] end, "tensor index must be an integer"},
  {"index too many positions", function() return t[{1, 2, 3}] end, "expected 1 to 2 positions"},
  {"assign a string", function() t[1] = "x" end, "cannot assign a string to t[1]"},
  {"assign wrong size", function() t[1] = T.zeros{4} end, "cannot assign a tensor of size 4 to t[1] of size 3"},
  {"set a field", function() t.foo = 1 end, "cannot set field 'foo' of a tensor"},
  {"clamp without bounds", function() return t:clamp() end, "bad argument #1 to 'clamp'", "at least one bound"},
  {"clamp crossed bounds", function() return t:clamp(2, 1) end, "clamp: lower bound 2.0 is above upper bound 1.0"},
  {"clamp NaN bound", function() return t:clamp(0 / 0, 1) end, "bad argument #1 to 'clamp' (lower bound is NaN)"},
  {"add_ growing", function() return T.zeros{3}:add_(T.zeros{2, 3}) end, "bad argument #1 to 'add_' (size 2x3 does not fit the tensor's size 3)"},
  {"length of a scalar", function() return #T.from(1) end, "length of a scalar tensor"},
  {"method on a number", function() return t.sum(5) end, "calling 'sum' on bad self (tensor expected, got number)"},
  {"pad odd widths", function() return t:pad({1}) end, "bad argument #1 to 'pad'", "pairs of padding widths"},
  {"norm NaN p", function() return t:norm(0 / 0) end, "bad argument #1 to 'norm' (p is NaN)"},
  {"softmax without dim", function() return t:softmax() end, "bad argument #1 to 'softmax' (number expected, got no value)"},
  {"exp with an argument", function() return t:exp(1) end, "bad argument #1 to 'exp' (no value expected, got number)"},
  {"released tensor", function()
    local u = T.zeros{2}
    getmetatable(u).__gc(u)
    getmetatable(u).__gc(u) -- a second release does nothing
    H.eq(tostring(u), "[released Tensor]")
    return u:sum()
  end, "calling 'sum' on bad self (tensor expected, got released tensor)"},

  -- nn functional forms
  {"conv2d nil input", function() return nn.conv2d(nil, w) end, "bad argument #1 to 'conv2d' (tensor expected, got nil)"},
  {"conv2d nil weight", function() return nn.conv2d(x, nil) end, "bad argument #2 to 'conv2d' (tensor expected, got nil)"},
  {"conv2d 3-D input", function() return nn.conv2d(T.zeros{1, 8, 8}, w) end, "conv2d: expected input of size (N, C, H, W), got 1x8x8"},
  {"conv2d unknown option", function() return nn.conv2d(x, w, nil, {strid = 1}) end, "bad argument #4 to 'conv2d' (unknown option 'strid'"},
  {"conv2d option type", function() return nn.conv2d(x, w, nil, {stride = "2"}) end, "option 'stride': integer or table of 2 integers expected, got string '2'"},
  {"conv2d zero stride", function() return nn.conv2d(x, w, nil, {stride = 0}) end, "conv2d: stride and dilation must be positive"},
  {"conv2d channel mismatch", function() return nn.conv2d(x, T.zeros{4, 2, 3, 3}) end, "conv2d", "expects 2 input channels, got 1"},
  {"conv2d bias size", function() return nn.conv2d(x, w, T.zeros{3}) end, "conv2d: expected bias of size 2, got 3"},
  {"max_pool2d no kernel", function() return nn.max_pool2d(x, {stride = 2}) end, "bad argument #2 to 'max_pool2d' (option 'kernel_size' is required)"},
  {"max_pool2d string", function() return nn.max_pool2d(x, "2") end, "bad argument #2 to 'max_pool2d' (table of options expected, got string)"},
  {"max_pool2d kernel too big", function() return nn.max_pool2d(T.zeros{1, 1, 2, 2}, 3) end, "max_pool2d: kernel 3x3 is larger than the padded input 2x2"},
  {"cross_entropy bad label", function() return nn.cross_entropy(logits, T.from{5}) end, "cross_entropy: target 5.0 is not a class index in 0..2"},
  {"cross_entropy NaN label", function() return nn.cross_entropy(logits, T.from{0 / 0}) end, "cross_entropy: target", "not a class index"},
  {"cross_entropy target size", function() return nn.cross_entropy(logits, T.zeros{3}) end, "cross_entropy: expected target of size 1"},
  {"cross_entropy reduction", function() return nn.cross_entropy(logits, y, "avg") end, "bad argument #3 to 'cross_entropy' (reduction must be 'mean', 'sum' or 'none', got 'avg')"},
  {"cross_entropy option", function() return nn.cross_entropy(logits, y, {reduce = "sum"}) end, "bad argument #3 to 'cross_entropy' (unknown option 'reduce'"},
  {"gaussian_kernel even", function() return nn.gaussian_kernel(4, 1) end, "gaussian_kernel: size must be a positive odd number, got 4"},
  {"gaussian_kernel NaN sigma", function() return nn.gaussian_kernel(5, 0 / 0) end, "gaussian_kernel: sigma must be positive"},
  {"gaussian_blur 2-D", function() return nn.gaussian_blur(T.zeros{3, 3}, 5, 1) end, "gaussian_blur: expected input of size (N, C, H, W)"},
  {"softmax without dim (nn)", function() return nn.softmax(t) end, "bad argument #2 to 'softmax' (number expected, got no value)"},
  {"linear mismatch", function() return nn.linear(T.zeros{2, 3}, T.zeros{4, 5}) end, "linear: expected input (N, 5)"},
  {"batch_norm statistics size", function() return nn.batch_norm(x, T.zeros{2}, T.ones{2}) end, "batch_norm: expected running_mean of size 1, got 2"},

  -- layer constructors
  {"Conv2d missing kernel", function() return nn.Conv2d{in_channels = 1, out_channels = 16} end, "bad argument #1 to 'Conv2d' (option 'kernel_size' is required)"},
  {"Conv2d misspelt option", function() return nn.Conv2d{1, 16, 3, kernal_size = 3} end, "bad argument #1 to 'Conv2d' (unknown option 'kernal_size' (expected in_channels, out_channels, kernel_size"},
  {"Conv2d padding string", function() return nn.Conv2d{1, 16, 3, padding = "same"} end, "'Conv2d'", "option 'padding': integer or table of 2 integers expected, got string 'same'"},
  {"Conv2d option twice", function() return nn.Conv2d{1, 16, 3, kernel_size = 3} end, "option 'kernel_size' given twice"},
  {"Conv2d zero channels", function() return nn.Conv2d{0, 16, 3} end, "option 'in_channels': must be positive, got 0"},
  {"Conv2d positional call", function() return nn.Conv2d(1, 16, 3) end, "bad argument #1 to 'Conv2d' (table of options expected, got number)"},
  {"Conv2d bias not boolean", function() return nn.Conv2d{1, 16, 3, bias = 1} end, "option 'bias': boolean expected, got number 1"},
  {"Conv2d groups", function() return nn.Conv2d{1, 15, 3, groups = 2} end, "Conv2d: groups (2) must divide"},
  {"Conv2d extra positional", function() return nn.Conv2d{1, 2, 3, 4, 5, 6} end, "'Conv2d'", "unexpected key number 6"},
  {"Linear missing size", function() return nn.Linear{in_features = 3} end, "bad argument #1 to 'Linear' (option 'out_features' is required)"},
  {"BatchNorm2d empty", function() return nn.BatchNorm2d{} end, "option 'num_features' is required"},
  {"BatchNorm2d unsupported option", function() return nn.BatchNorm2d{4, affine = false} end, "unknown option 'affine'"},
  {"Dropout p too large", function() return nn.Dropout{p = 1.5} end, "Dropout: p must be in [0, 1), got 1.5"},
  {"Dropout NaN p", function() return nn.Dropout{p = 0 / 0} end, "'Dropout'", "option 'p': NaN"},
  {"ReLU with an option", function() return nn.ReLU{inplace = true} end, "bad argument #1 to 'ReLU' (unknown option 'inplace' (it takes no options))"},
  {"Sequential of a number", function() return nn.Sequential{nn.ReLU(), 5} end, "bad argument #1 to 'Sequential' (module expected at position 2, got number)"},
  {"Sequential of named entries", function() return nn.Sequential{a = nn.ReLU()} end, "'Sequential'", "expected a list of modules"},
  {"Flatten start 0", function() return nn.Flatten{start_dim = 0} end, "'Flatten'", "expected a dimension >= 1"},
  {"AdaptiveAvgPool2d size 0", function() return nn.AdaptiveAvgPool2d{0} end, "AdaptiveAvgPool2d: output size must be positive"},
  {"resnet18 zero classes", function() return smia.models.resnet18{num_classes = 0} end, "'resnet18'", "option 'num_classes': must be positive"},
  {"resnet18 unknown option", function() return smia.models.resnet18{classes = 5} end, "bad argument #1 to 'resnet18' (unknown option 'classes'"},

  -- modules
  {"forward nil", function() return m(nil) end, "bad argument #1 to 'forward' (tensor expected, got nil)"},
  {"forward wrong channels", function() return m(T.zeros{1, 3, 8, 8}) end, "Sequential.0 (Conv2d): conv2d", "expects 1 input channels, got 3"},
  {"forward wrong size", function() return m(T.zeros{1, 1, 9, 9}) end, "Sequential.3 (Linear): linear: expected input (N, 128)"},
  {"forward a string", function() return m:forward("x") end, "bad argument #1 to 'forward' (tensor expected, got string)"},
  {"forward on a tensor", function() return m.forward(t, x) end, "calling 'forward' on bad self (module expected, got tensor)"},
  {"resnet forward channels", function() return smia.models.resnet18{num_classes = 2}(x) end, "ResNet18: expected input of size (N, 3, H, W), got 1x1x8x8"},
  {"set a module field", function() m.weight = t end, "cannot set field 'weight' of a module"},
  {"get out of range", function() return m:get(10) end, "bad argument #1 to 'get' (child 10 out of range (the module has 4 children))"},
  {"train with a string", function() return m:train("yes") end, "bad argument #1 to 'train' (boolean expected, got string)"},
  {"add to a layer", function() return nn.ReLU():add(nn.ReLU()) end, "calling 'add' on bad self (only a Sequential takes new children, got ReLU)"},
  {"load_state_dict partial", function() return m:load_state_dict({["0.weight"] = T.zeros{1}}) end,
    "load_weights: the table does not fit Sequential", "missing keys: 0.bias", "size mismatch: 0.weight (expected 2x1x3x3, got 1)"},
  {"load_state_dict value", function() return m:load_state_dict({x = 5}) end, "bad argument #1 to 'load_state_dict' (tensor expected for 'x', got number)"},

  -- files
  {"load missing file", function() return smia.io.load(tmp .. "/missing.safetensors") end, "load: safetensors:", "missing.safetensors"},
  {"load path not a string", function() return smia.io.load(5) end, "bad argument #1 to 'load' (string expected, got number)"},
  {"load truncated file", function() return smia.io.load(file("trunc.safetensors", le64(#good_header) .. good_header .. "1234")) end, "load: safetensors:", "trunc.safetensors"},
  {"load garbage", function() return smia.io.load(file("garbage.safetensors", "this is not a safetensors file at all")) end, "load: safetensors:", "garbage.safetensors"},
  {"load huge header length", function() return smia.io.load(file("huge.safetensors", le64(1 << 40) .. "{}")) end, "load: safetensors:", "huge.safetensors"},
  {"load bad json", function() return smia.io.load(file("json.safetensors", le64(8) .. '{"a":1,  ')) end, "load: safetensors:", "json.safetensors"},
  {"load empty file", function() return smia.io.load(file("empty.safetensors", "")) end, "load: safetensors:", "empty.safetensors"},
  {"save non-tensor", function() return smia.io.save(tmp .. "/o.safetensors", {a = 5}) end, "bad argument #2 to 'save' (tensor expected for 'a', got number)"},
  {"save list", function() return smia.io.save(tmp .. "/o.safetensors", {t}) end, "bad argument #2 to 'save' (expected a table name → tensor, got key number 1)"},
  {"save into a missing folder", function() return smia.io.save(tmp .. "/no/such/dir/o.safetensors", {a = t}) end, "save: safetensors:", "o.safetensors"},
  {"save bad metadata", function() return smia.io.save(tmp .. "/o.safetensors", {a = t}, {k = {}}) end, "bad argument #3 to 'save' (metadata value of 'k' must be a string or a number, got table)"},
  {"load_weights missing file", function() return m:load_weights(tmp .. "/missing.safetensors") end, "load_weights: safetensors:", "missing.safetensors"},
  {"load_weights other model", function() return m:load_weights("../shared/fixtures/smallcnn_c1_28x28_k10_s2.weights.safetensors") end,
    "load_weights:", "does not fit Sequential", "16 unexpected keys:", "(12 more)", "2 size mismatch: 0.weight (expected 2x1x3x3, got 16x1x3x3)"},
  {"save_weights metadata type", function() return m:save_weights(tmp .. "/m.safetensors", 5) end, "bad argument #2 to 'save_weights' (table expected, got number)"},

  -- autograd
  {"grad of a number", function() return autograd.grad(5) end, "bad argument #1 to 'grad' (function expected, got number)"},
  {"grad at a number", function() return autograd.grad(function(v) return v end)(5) end, "bad argument #1 to 'grad' (tensor or table of tensors expected, got number)"},
  {"grad of a non-scalar", function() return autograd.grad(function(v) return v * 2 end)(t) end, "grad: the function must return a scalar tensor (one element), got size 2x3"},
  {"grad of a number result", function() return autograd.grad(function(v) return 1 end)(t) end, "grad: the function must return a scalar tensor, got number"},
  {"grad of nothing", function() return autograd.grad(function(v) end)(t) end, "grad: the function must return a scalar tensor, got no value"},
  {"grad with an error inside", function() return autograd.grad(function(v) error("boom in loss") end)(t) end, "test_errors.lua", "boom in loss"},
  {"grad with a bad call inside", function() return autograd.grad(function(v) return nn.conv2d(v, nil):sum() end)(x) end, "bad argument #2 to 'conv2d' (tensor expected, got nil)"},
  {"grad with an engine error inside", function() return autograd.grad(function(v) return (v + T.zeros{5}):sum() end)(t) end, "add: sizes 2x3 and 5 cannot be broadcast"},
  {"grad with an error object", function()
    local object = {code = 1}
    local ok, err = pcall(autograd.grad(function(v) error(object) end), t)
    assert(not ok and rawequal(err, object), "error objects pass through grad unchanged")
    error("checked")
  end, "checked"},
  {"grad of a table with a string", function() return autograd.grad(function(p) return p[1]:sum() end)({t, "x"}) end, "bad argument #1 to 'grad'", "found a string inside"},
  {"grad of a cyclic table", function()
    local c = {t}
    c.self = c
    return autograd.grad(function(p) return p[1]:sum() end)(c)
  end, "bad argument #1 to 'grad'", "cycle"},
  {"value_and_grad error", function() return autograd.value_and_grad(function(v) error("vg failure") end)(t) end, "vg failure"},
  {"no_grad of a number", function() return smia.no_grad(5) end, "bad argument #1 to 'no_grad' (function expected, got number)"},
  {"no_grad with an error", function() return smia.no_grad(function() error("inner failure") end) end, "inner failure"},
  {"seed with a string", function() return smia.seed("x") end, "bad argument #1 to 'seed' (number expected, got string)"},
  {"gc_threshold negative", function() return smia.gc_threshold(-1) end, "bad argument #1 to 'gc_threshold' (threshold must be positive"},
}

local tests = {}

-- The state keeps working after every error.
local function still_works()
  H.eq(T.ones{2}:sum():item(), 2, "tensor arithmetic after the error")
  H.same(m(x):shape(), {1, 3}, "module call after the error")
  local g = autograd.grad(function(v) return (v * v):sum() end)(T.from{3})
  H.eq(g[1], 6, "gradient after the error")
  assert(not t:requires_grad(), "no flag left set")
end

for i, case in ipairs(cases) do
  tests[("%03d %s"):format(i, case[1])] = function()
    H.raises(case[2], table.unpack(case, 3))
    still_works()
  end
end

function tests.at_least_sixty_kinds()
  assert(#cases >= 60, #cases .. " cases")
end

function tests.messages_carry_the_position()
  local err = H.raises(function() return T.zeros{-1} end, "test_errors.lua:")
  assert(err:match("^[^:]*test_errors%.lua:%d+: bad argument #1 to 'zeros'"), err)
end

function tests.zzz_cleanup()
  H.rmdir(tmp)
end

return tests
