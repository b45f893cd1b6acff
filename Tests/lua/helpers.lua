-- Shared checks for the Lua tests: local H = dofile(dir .. "/helpers.lua").
local T = smia.tensor
local H = {}

--- Directory of the calling test file.
function H.dir()
  return debug.getinfo(2, "S").source:match("^@(.*)[/\\]") or "."
end

local function fmt(v)
  if smia.is_tensor(v) then return tostring(v) end
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = fmt(x) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return tostring(v)
end
H.fmt = fmt

function H.eq(a, b, what)
  if a ~= b then error(("%s: expected %s, got %s"):format(what or "value", fmt(b), fmt(a)), 2) end
end

--- Lists equal element by element.
function H.same(a, b, what)
  local ok = #a == #b
  for i = 1, #a do ok = ok and a[i] == b[i] end
  if not ok then error(("%s: expected %s, got %s"):format(what or "list", fmt(b), fmt(a)), 2) end
end

function H.near(a, b, tol, what)
  tol = tol or 1e-5
  if math.abs(a - b) > tol * math.max(1, math.abs(b)) then
    error(("%s: expected %.7g, got %.7g"):format(what or "number", b, a), 2)
  end
end

--- Tensors of the same shape with values within tol (absolute, or relative for large values).
function H.close(a, b, tol, what)
  tol = tol or 1e-5
  if not smia.is_tensor(b) then b = T.from(b) end
  H.same(a:shape(), b:shape(), (what or "tensor") .. " shape")
  local worst = ((a - b):abs() / (b:abs() + 1):detach()):max():item()
  if worst > tol then
    error(("%s: values differ by %.3g (tolerance %.3g)\ngot\n%s\nexpected\n%s"):format(what or "tensor", worst, tol,
      tostring(a), tostring(b)), 2)
  end
end

--- fn(...) fails with a message containing every given fragment (plain text).
function H.raises(fn, ...)
  local ok, err = pcall(fn)
  if ok then error("expected an error, the call succeeded", 2) end
  err = tostring(err)
  for _, fragment in ipairs{...} do
    if not err:find(fragment, 1, true) then
      error(("error message %q does not contain %q"):format(err, fragment), 2)
    end
  end
  return err
end

--- Central finite differences of the scalar function f at x (a tensor), in float64 steps.
function H.numeric_grad(f, x, eps)
  eps = eps or 1e-2
  local g = T.zeros(x:shape())
  local flat = x:reshape{-1}
  local gflat = {}
  for i = 1, x:numel() do
    local saved = flat[i]
    flat[i] = saved + eps
    local up = f(flat:reshape(x:shape())):item()
    flat[i] = saved - eps
    local down = f(flat:reshape(x:shape())):item()
    flat[i] = saved
    gflat[i] = (up - down) / (2 * eps)
  end
  return T.from(gflat):reshape(x:shape())
end

--- Relative L2 distance |a - b| / |b|.
function H.rel_l2(a, b)
  local d = ((a - b) * (a - b)):sum():item()
  local n = (b * b):sum():item()
  return math.sqrt(d) / math.max(math.sqrt(n), 1e-12)
end

--- A fresh temporary directory (removed by the caller with H.rmdir).
function H.tmpdir()
  local p = io.popen("mktemp -d")
  local d = p:read("l")
  p:close()
  return d
end

function H.rmdir(d)
  if d and d:match("^/tmp/") then os.execute('rm -rf "' .. d .. '"') end
end

--- Bright squares on black (n gray 32x32 images, one square each, class 0 for 6 px and 1 for
--- 12 px) and their boxes, one list per image; the same for the same seed.
function H.squares(n, seed)
  local x, boxes, r = T.zeros{n, 1, 32, 32}, {}, seed
  local function rnd(k) r = (r * 1103515245 + 12345) % 2147483648; return r % k end
  for i = 1, n do
    local s = rnd(2) == 0 and 6 or 12
    local x1, y1 = rnd(32 - s), rnd(32 - s)
    for yy = y1 + 1, y1 + s do for xx = x1 + 1, x1 + s do x[{i, 1, yy, xx}] = 1 end end
    boxes[i] = {{x1, y1, x1 + s, y1 + s, s == 6 and 0 or 1}}
  end
  return x, boxes
end

--- A small detector (2 classes, width 8) trained with SGD on H.squares to find them (as in
--- test_layers.lua), in eval mode; trained once per test file.
function H.square_detector()
  if H.trained_detector then return H.trained_detector end
  smia.seed(5)
  local det = smia.models.detector{in_channels = 1, num_classes = 2, width = 8}
  local params = det:parameters()
  local df = smia.autograd.grad(function(_, x, b) return det:loss(det(x), b) end)
  for step = 1, 150 do
    local x, b = H.squares(8, step)
    local g = df(params, x, b)
    for k, p in ipairs(params) do p:sub_(g[k] * 0.05) end
  end
  det:eval()
  H.trained_detector = det
  return det
end

-- A random 4-class CNN in eval mode (weights scaled up, so its logits spread), 16 gray 16x16
-- images, and its own clean predictions as labels (clean accuracy 1).
function H.random_classifier()
  local nn, T = smia.nn, smia.tensor
  smia.seed(4)
  local m = nn.Sequential{nn.Conv2d{1, 8, 3, padding = 1}, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear{8 * 8 * 8, 4}}:eval()
  for _, p in ipairs(m:parameters()) do p:mul_(3) end
  local x = T.rand({16, 1, 16, 16}, 3)
  return m, x, m(x):argmax(2)
end

--- The fixture small CNN's architecture (Tests/Data/fixtures/README.md), in PyTorch's names.
function H.small_cnn()
  local nn = smia.nn
  return nn.Sequential{
    nn.Conv2d{1, 16, 3, padding = 1}, nn.BatchNorm2d{16}, nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d{16, 32, 3, padding = 1}, nn.BatchNorm2d{32}, nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear{1568, 64}, nn.ReLU(), nn.Linear{64, 10},
  }
end

--- The package root, for tests that run scripts as a user does.
H.root = (debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/../../"

--- The PyTorch reference fixtures (Tests/Data/fixtures/README.md), with a trailing slash.
H.fixtures = H.root .. "Tests/Data/fixtures/"

--- The interpreter running the tests (the most negative index of `arg`), to start children;
--- inside the Swift suite (a state with no interpreter below the script), the release build's.
function H.host()
  assert(type(arg) == "table", "these tests need the global 'arg'")
  local lowest = 0
  while arg[lowest - 1] ~= nil do lowest = lowest - 1 end
  return lowest < 0 and arg[lowest] or H.root .. ".build/release/smia-lua"
end

--- A string quoted for the shell.
--- The whole content of a file (an error when it cannot be opened).
function H.read_file(path)
  local f = assert(io.open(path, "rb"))
  local bytes = f:read("a")
  f:close()
  return bytes
end

--- Writes bytes to a file, replacing it; returns the path.
function H.write_file(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  return path
end

function H.quote(s) return "'" .. tostring(s):gsub("'", [['\'']]) .. "'" end

return H
