-- Numbers written as arithmetic on the command line: `8/255`, `0.5/255`, `2*(1+1)/255`, `-1e-3`.
-- Only numbers, + - * /, unary minus and parentheses are read (a small recursive-descent
-- parser, not Lua's load), so a value can never run code.
--
--   local arithmetic = dofile(here .. "/arithmetic.lua")
--   arithmetic.evaluate("8/255")   --> 0.031372549019608
--   arithmetic.evaluate("8/")      --> nil, "expected a number at position 3"
local arithmetic = {}

function arithmetic.evaluate(text)
  local pos = 1
  local function skip() pos = text:match("^%s*()", pos) end
  local function fail(what) error({message = ("expected %s at position %d"):format(what, pos)}, 0) end

  local expression
  local function primary()
    skip()
    if text:sub(pos, pos) == "(" then
      pos = pos + 1
      local v = expression()
      skip()
      if text:sub(pos, pos) ~= ")" then fail("')'") end
      pos = pos + 1
      return v
    end
    if text:sub(pos, pos) == "-" then
      pos = pos + 1
      return -primary()
    end
    if text:sub(pos, pos) == "+" then
      pos = pos + 1
      return primary()
    end
    local number, after = text:match("^(%d*%.?%d+[eE][-+]?%d+)()", pos)
    if not number then number, after = text:match("^(%d+%.?%d*)()", pos) end
    if not number then number, after = text:match("^(%.%d+)()", pos) end
    if not number then fail("a number") end
    pos = after
    return tonumber(number)
  end
  local function term()
    local v = primary()
    while true do
      skip()
      local op = text:sub(pos, pos)
      if op ~= "*" and op ~= "/" then return v end
      pos = pos + 1
      local rhs = primary()
      if op == "*" then v = v * rhs else v = v / rhs end
    end
  end
  function expression()
    local v = term()
    while true do
      skip()
      local op = text:sub(pos, pos)
      if op ~= "+" and op ~= "-" then return v end
      pos = pos + 1
      local rhs = term()
      if op == "+" then v = v + rhs else v = v - rhs end
    end
  end

  local ok, value = pcall(function()
    local v = expression()
    skip()
    if pos <= #text then fail("an operator") end
    return v
  end)
  if not ok then
    if type(value) == "table" then return nil, value.message end
    error(value, 0)
  end
  if value ~= value or value == math.huge or value == -math.huge then return nil, "the value is not a finite number" end
  return value
end

return arithmetic
