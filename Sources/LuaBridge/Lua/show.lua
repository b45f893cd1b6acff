-- smia.show(...): prints values as the REPL shows them. Tables are written out as Lua
-- (`{2, 3}`, `{eps = 0.03, name = "pgd"}`) instead of their address; values with a __tostring
-- (tensors, attacks, datasets) print through it; a module whose printout is longer than a screen
-- is one line of summary (`print(m)` prints it all), so `m:eval()`, which returns the module,
-- stays short. Strings and numbers at the top print as `print` prints them.
local smia, tensor_mt, module_mt = ...

local LIMIT_ITEMS = 24   -- entries shown per table before "..."
local LIMIT_DEPTH = 3    -- nesting shown before "{...}"
local WIDTH = 88         -- a table longer than this on one line is written one entry a line
local MODULE_LINES = 20  -- a module printout longer than this is summarized

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

local function has_tostring(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__tostring") ~= nil
end

local function module_summary(m, text)
  local lines = select(2, text:gsub("\n", "\n")) + 1
  if lines <= MODULE_LINES then return text end
  local ok, count = pcall(function() return m:num_parameters() end)
  local training = rawequal(m:is_training(), true)
  local params = ok and tostring(count):reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "") or "?"
  return ("%s (%s parameters, %s mode; print(m) shows its %d lines)")
    :format(text:match("^[^\n(]*"), params, training and "training" or "eval", lines)
end

local show_value

-- A table as Lua source: list part first, then the other keys sorted.
local function show_table(t, depth, seen)
  if seen[t] then return "{<cycle>}" end
  if depth > LIMIT_DEPTH then return "{...}" end
  seen[t] = true
  local parts, n = {}, #t
  for i = 1, math.min(n, LIMIT_ITEMS) do parts[#parts + 1] = show_value(t[i], depth + 1, seen) end
  local keys = {}
  for k in next, t do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "string" or type(a) == "number") then return a < b end
    return type(a) < type(b)
  end)
  for _, k in ipairs(keys) do
    if #parts >= LIMIT_ITEMS then break end
    local key = is_identifier(k) and k or "[" .. show_value(k, depth + 1, seen) .. "]"
    parts[#parts + 1] = key .. " = " .. show_value(rawget(t, k), depth + 1, seen)
  end
  local hidden = n + #keys - #parts
  if hidden > 0 then parts[#parts + 1] = ("... (%d more)"):format(hidden) end
  seen[t] = nil
  local line = "{" .. table.concat(parts, ", ") .. "}"
  if #line <= WIDTH and not line:find("\n") then return line end
  local indent = string.rep("  ", depth)
  for i, p in ipairs(parts) do parts[i] = indent .. "  " .. p:gsub("\n", "\n" .. indent .. "  ") end
  return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
end

function show_value(v, depth, seen)
  local kind = type(v)
  if kind == "string" then return depth == 0 and v or ("%q"):format(v):gsub("\\\n", "\\n") end
  if kind == "table" and not has_tostring(v) then return show_table(v, depth, seen) end
  local text = tostring(v)
  if getmetatable(v) == module_mt then text = module_summary(v, text) end
  if kind == "function" and smia.help and depth == 0 then
    local name = smia.help.name_of(v)
    if name then text = ("%s (%s: help(%s))"):format(text, name, name) end
  end
  return text
end

--- The text smia.show prints for one value.
function smia.inspect(v) return show_value(v, 0, {}) end

function smia.show(...)
  local n = select("#", ...)
  if n == 0 then return end
  local out = {}
  for i = 1, n do out[i] = show_value((select(i, ...)), 0, {}) end
  print(table.concat(out, "\t"))
end
