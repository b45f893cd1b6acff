local T, nn = smia.tensor, smia.nn
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local tests = {}

function tests.save_and_load()
  local dir = H.tmpdir()
  local path = dir .. "/a.safetensors"
  local a = T.rand({2, 3}, 1)
  local b = T.arange(5)
  smia.io.save(path, {a = a, ["layer.0.b"] = b}, {note = "hello", step = 3})
  local t, meta = smia.io.load(path)
  H.close(t.a, a, 0)
  H.close(t["layer.0.b"], b, 0)
  H.eq(meta.note, "hello")
  H.eq(meta.step, "3")
  smia.io.save(path, {})
  local empty, m2 = smia.io.load(path)
  H.eq(next(empty), nil)
  H.eq(next(m2), nil)
  H.rmdir(dir)
end

function tests.weights_round_trip()
  local dir = H.tmpdir()
  local path = dir .. "/w.safetensors"
  smia.seed(1)
  local function make()
    return nn.Sequential{nn.Conv2d{1, 2, 3}, nn.BatchNorm2d{2}, nn.ReLU(), nn.Flatten(), nn.Linear{2 * 4 * 4, 3}}
  end
  local a, b = make(), make()
  a(T.rand({4, 1, 6, 6}, 2)) -- training step: running statistics move
  a:eval(); b:eval()
  assert(rawequal(a:save_weights(path, {arch = "tiny"}), a))
  local x = T.rand({2, 1, 6, 6}, 3)
  assert(not a(x):equal(b(x)))
  b:load_weights(path)
  H.close(b(x), a(x), 0)
  local t, meta = smia.io.load(path)
  H.eq(meta.arch, "tiny")
  H.eq(t["1.num_batches_tracked"]:item(), 1)
  H.rmdir(dir)
end

function tests.fixture_weights_have_pytorch_names()
  local t, meta = smia.io.load(H.fixtures .. "smallcnn_c1_28x28_k10_s2.weights.safetensors")
  H.same(t["0.weight"]:shape(), {16, 1, 3, 3})
  H.same(t["11.bias"]:shape(), {10})
  H.eq(meta.num_classes, "10")
end

return tests
