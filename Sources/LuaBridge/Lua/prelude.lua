-- The part of the smia module written in Lua: small tensor helpers and module predicates. Run
-- once by openSmia, like every file here, with the smia table and the tensor and module
-- metatables as arguments.
local smia, tensor_mt, module_mt = ...
local T, nn = smia.tensor, smia.nn

local function check_tensor(t, fname)
  if not T.is_tensor(t) then
    local got = t == nil and "nil" or (getmetatable(t) == module_mt and "module" or type(t))
    error(("bad argument #1 to '%s' (tensor expected, got %s)"):format(fname, got), 3)
  end
end

-- T{{1, 2}, {3, 4}} as T.from.
setmetatable(T, {__call = function(_, data) return T.from(data) end})

function T.zeros_like(t) check_tensor(t, "zeros_like"); return T.zeros(t:shape()) end
function T.ones_like(t) check_tensor(t, "ones_like"); return T.ones(t:shape()) end
function T.full_like(t, v) check_tensor(t, "full_like"); return T.full(t:shape(), v) end
function T.rand_like(t, seed) check_tensor(t, "rand_like"); return T.rand(t:shape(), seed) end
function T.randn_like(t, seed) check_tensor(t, "randn_like"); return T.randn(t:shape(), seed) end

--- The n x n identity.
function T.eye(n)
  local t = T.zeros{n, n}
  for i = 1, n do t[{i, i}] = 1 end
  return t
end

smia.is_tensor = T.is_tensor
function smia.is_module(x) return getmetatable(x) == module_mt end
