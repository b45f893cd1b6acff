-- Views as in Torch7 and PyTorch: t[i], t[{...}], narrow, select, slice, transpose and permute
-- share their values with the tensor they come from, so in-place operations on either act on
-- both; assignment to ranges; gradients through views (finite differences), and an error for
-- a gradient that needs a tensor changed in place after it was used.
local T = smia.tensor
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local tests = {}

local function grid(rows, cols)
  local values = {}
  for i = 1, rows do
    values[i] = {}
    for j = 1, cols do values[i][j] = 10 * i + j end
  end
  return T.from(values)
end

function tests.in_place_operations_on_views_change_the_source()
  local x = grid(3, 4)
  x:narrow(2, 2, 2):fill_(0)
  H.close(x, {{11, 0, 0, 14}, {21, 0, 0, 24}, {31, 0, 0, 34}}, 0, "narrow")
  x:select(1, 3):add_(100)
  H.close(x[3], {131, 100, 100, 134}, 0, "select")
  x[1]:mul_(2)
  H.close(x[1], {22, 0, 0, 28}, 0, "t[i]")
  x:transpose(1, 2)[4]:copy_(T.from{-1, -2, -3})
  H.close(x:select(2, 4), {-1, -2, -3}, 0, "transpose")
  x[{{2, 3}, {1, 2}}]:zero_()
  H.close(x, {{22, 0, 0, -1}, {0, 0, 0, -2}, {0, 0, 100, -3}}, 0, "t[{ranges}]")
  x:slice(2, 1, 4, 2):fill_(7)
  H.close(x, {{7, 0, 7, -1}, {7, 0, 7, -2}, {7, 0, 7, -3}}, 0, "slice with a step")
  x:permute(2, 1)[{{1}, {}}]:clamp_(nil, 5)
  H.close(x[{{}, 1}], {5, 5, 5}, 0, "permute")
end

function tests.views_see_changes_to_the_source()
  local x = grid(2, 3)
  local row, col, t = x[2], x:select(2, 3), x:transpose(1, 2)
  x:fill_(1)
  x[{2, 3}] = 9
  H.close(row, {1, 1, 9}, 0, "row")
  H.close(col, {1, 9}, 0, "column")
  H.close(t, {{1, 1}, {1, 1}, {1, 9}}, 0, "transposed")
  -- A view of a view writes through to the first source, and the other views see it.
  row:narrow(1, 1, 2):fill_(4)
  H.close(x, {{1, 1, 1}, {4, 4, 9}}, 0, "view of a view")
  H.close(t:select(1, 1), {1, 4}, 0, "a sibling view")
  H.eq((row * 2):sum():item(), 34, "kernels read a view's current values")
end

function tests.assignment_to_ranges()
  local mask = T.zeros{2, 1, 28, 28}
  mask[{{}, {}, {8, 21}, {8, 21}}] = 1
  H.eq(mask:sum():item(), 2 * 14 * 14, "a number fills the block")
  H.eq(mask[{1, 1, 8, 8}], 1)
  H.eq(mask[{1, 1, 7, 8}], 0)
  H.eq(mask[{2, 1, 21, 21}], 1)
  H.eq(mask[{2, 1, 22, 21}], 0)
  local x = T.zeros{3, 4}
  x[{{}, {2, 3}}] = T.from{5, 6}             -- broadcast over the rows
  H.close(x, {{0, 5, 6, 0}, {0, 5, 6, 0}, {0, 5, 6, 0}}, 0, "a broadcast tensor")
  x[{-1, {-2, -1}}] = T.from{8, 9}
  H.close(x[3], {0, 5, 8, 9}, 0, "negative positions")
  x[2] = 1
  H.close(x[2], {1, 1, 1, 1}, 0, "a row")
  x[{1, {1}}] = 3
  H.eq(x[{1, 1}], 3, "{first} alone")
  -- Assigning a view of the same tensor.
  x[1] = x[2]
  H.close(x[1], {1, 1, 1, 1}, 0, "from a view of itself")
  H.raises(function() x[{{}, {2, 3}}] = T.zeros{3} end, "cannot assign a tensor of size 3", "of size 3x2")
  H.raises(function() x[{{1, 2, 3}}] = 1 end, "a range is {first, last}")
  H.raises(function() x[{{3, 1}}] = 1 end, "ends before it starts")
  H.raises(function() x[{"a"}] = 1 end, "must be a position or a range")
  H.raises(function() return x[{{1, 5}}] end, "out of range for dimension 1 of size 3")
end

function tests.copies_stay_copies()
  local x = grid(2, 2)
  local c = x[1]:clone()
  c:fill_(0)
  H.close(x[1], {11, 12}, 0, "clone")
  local r = x:reshape(4)
  r:fill_(0)
  H.close(x[1], {11, 12}, 0, "reshape copies")
end

-- Gradients through views against central finite differences.
function tests.gradients_through_views_match_finite_differences()
  local w = T.rand({3, 4}, 5)
  local function f(x)
    local a = x[{{2, 3}, {1, 3}}]            -- 2x3 block
    local b = x:transpose(1, 2):narrow(1, 2, 3)   -- 3x3 of columns 2..4
    local c = x:select(2, 4):slice(1, 1, 3, 2)
    return (a * w[{{1, 2}, {2, 4}}]):sum() + (b:matmul(a:transpose(1, 2)) ^ 2):sum() + (c * c):sum() * 3
  end
  local x = T.rand({3, 4}, 6)
  local g = smia.autograd.grad(f)(x)
  local numeric = H.numeric_grad(f, x, 1e-2)
  assert(H.rel_l2(g, numeric) < 2e-3, "relative L2 " .. H.rel_l2(g, numeric))
end

function tests.a_gradient_that_needs_a_tensor_changed_in_place_is_an_error()
  local x = T.rand({2, 3}, 1)
  local df = smia.autograd.grad(function(x)
    local y = x:exp()
    y[1]:fill_(0)                             -- exp's gradient reads y
    return y:sum()
  end)
  H.raises(function() df(x) end, "changed by an in-place operation", "'exp'")
  local w = T.rand({3}, 2)
  local dw = smia.autograd.grad(function(x)
    local loss = (x * w):sum()
    w:add_(1)                                 -- the product's gradient reads w
    return loss
  end)
  H.raises(function() dw(x) end, "changed by an in-place operation")
  -- In place before use is fine.
  local ok = smia.autograd.grad(function(x)
    local z = T.zeros{2, 3}
    z[{{}, {1, 2}}] = 1
    return (x * z):sum()
  end)(x)
  H.close(ok, {{1, 1, 0}, {1, 1, 0}}, 0, "gradient after an in-place write made before the use")
end

return tests
