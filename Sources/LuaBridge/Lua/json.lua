-- smia.json: JSON text for result rows, read back exactly.
--
--   smia.json.encode(value[, {order = {"task", "method", ...}}])  -> text (one line)
--   smia.json.decode(text)                                        -> value
--
-- Numbers are written in the shortest form that reads back as the same double, so rows
-- written by one run and read by another (resume, merging shards) give identical sums; NaN and
-- infinities become null. A table with a non-empty array part is an array, any other an object
-- (keys in `order` first, then the others sorted). null decodes to nil.
local smia = ...

local json = {}

local escapes = {['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
                 ["\r"] = "\\r", ["\t"] = "\\t"}

local function string_literal(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return escapes[c] or ("\\u%04x"):format(c:byte()) end) .. '"'
end

local function number_literal(v)
  if math.type(v) == "integer" then return tostring(v) end
  if v ~= v or v == math.huge or v == -math.huge then return "null" end
  if v == math.floor(v) and math.abs(v) < 2^53 then return ("%d"):format(v) end
  for digits = 15, 17 do
    local text = ("%." .. digits .. "g"):format(v)
    if tonumber(text) == v then return text end
  end
  return ("%.17g"):format(v)
end

local function encode(value, order, depth)
  local kind = type(value)
  if kind == "nil" then return "null" end
  if kind == "boolean" then return tostring(value) end
  if kind == "number" then return number_literal(value) end
  if kind == "string" then return string_literal(value) end
  if kind ~= "table" then error(("smia.json.encode: cannot write a %s"):format(kind), depth + 2) end
  if #value > 0 then
    local parts = {}
    for i = 1, #value do parts[i] = encode(value[i], nil, depth + 1) end
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  local keys, seen = {}, {}
  for _, k in ipairs(order or {}) do
    if value[k] ~= nil then keys[#keys + 1], seen[k] = k, true end
  end
  local rest = {}
  for k in pairs(value) do
    if type(k) ~= "string" then error("smia.json.encode: object keys must be strings, got " .. type(k), depth + 2) end
    if not seen[k] then rest[#rest + 1] = k end
  end
  table.sort(rest)
  for _, k in ipairs(rest) do keys[#keys + 1] = k end
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = string_literal(k) .. ": " .. encode(value[k], nil, depth + 1) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function json.encode(value, options)
  return encode(value, options and options.order, 1)
end

-- A recursive-descent reader over `text`; errors name the byte position.
function json.decode(text)
  if type(text) ~= "string" then error("smia.json.decode: expected a string, got " .. type(text), 2) end
  local pos = 1
  local function fail(what)
    error(("smia.json.decode: expected %s at byte %d"):format(what, pos), 0)
  end
  local function skip() pos = text:find("[^ \t\r\n]", pos) or #text + 1 end
  local value
  local function string_value()
    local out = {}
    pos = pos + 1
    while true do
      local stop = text:find('["\\]', pos)
      if not stop then fail("the end of a string") end
      out[#out + 1] = text:sub(pos, stop - 1)
      pos = stop + 1
      if text:sub(stop, stop) == '"' then return table.concat(out) end
      local c = text:sub(pos, pos)
      if c == "u" then
        local code = tonumber(text:sub(pos + 1, pos + 4), 16)
        if not code then fail("four hex digits") end
        out[#out + 1] = utf8.char(code)
        pos = pos + 5
      else
        local plain = ({b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", ['"'] = '"', ["\\"] = "\\", ["/"] = "/"})[c]
        if not plain then fail("an escape") end
        out[#out + 1] = plain
        pos = pos + 1
      end
    end
  end
  function value()
    skip()
    local c = text:sub(pos, pos)
    if c == "{" then
      local out = {}
      pos = pos + 1
      skip()
      if text:sub(pos, pos) == "}" then pos = pos + 1 return out end
      while true do
        skip()
        if text:sub(pos, pos) ~= '"' then fail("a key") end
        local k = string_value()
        skip()
        if text:sub(pos, pos) ~= ":" then fail("':'") end
        pos = pos + 1
        out[k] = value()
        skip()
        local sep = text:sub(pos, pos)
        pos = pos + 1
        if sep == "}" then return out end
        if sep ~= "," then pos = pos - 1 fail("',' or '}'") end
      end
    elseif c == "[" then
      local out, count = {}, 0
      pos = pos + 1
      skip()
      if text:sub(pos, pos) == "]" then pos = pos + 1 return out end
      while true do
        count = count + 1
        out[count] = value()
        skip()
        local sep = text:sub(pos, pos)
        pos = pos + 1
        if sep == "]" then return out end
        if sep ~= "," then pos = pos - 1 fail("',' or ']'") end
      end
    elseif c == '"' then
      return string_value()
    end
    for _, word in ipairs{"true", "false", "null"} do
      if text:sub(pos, pos + #word - 1) == word then
        pos = pos + #word
        if word == "null" then return nil end
        return word == "true"
      end
    end
    local number = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if not number or number == "" or number == "-" then fail("a value") end
    pos = pos + #number
    return math.tointeger(tonumber(number)) or tonumber(number) or fail("a number")
  end
  local out = value()
  skip()
  if pos <= #text then fail("the end of the text") end
  return out
end

smia.json = json
