-- Command-line options for the scripts: `--name value` pairs (and bare `--flag`s), checked
-- against a table of defaults; `--help` prints the usage and every option of that table with its
-- default and meaning, so the table that parses is the one `--help` describes. A bad option
-- prints the problem and the usage on stderr and exits with status 2.
--
--   local cli = dofile(here .. "/../lib/cli.lua")
--   local o = cli.parse(arg, {epochs = cli.option(4, "passes over the training set"),
--                             out = cli.option("models/x.safetensors", "where the weights go", "PATH"),
--                             full = false},
--                       "smia-lua scripts/train/x.lua [--epochs N] [--out PATH]")
--
-- The type of each default decides how a value is read: integer, number, string, or boolean
-- (a flag, given without a value); a number may be written as arithmetic (`--eps 8/255`, see
-- arithmetic.lua). A default of `cli.optional("number")` has no value unless given
-- (`cli.optional(kind, meaning, placeholder, unset)`: `unset` says what happens then).
-- `cli.option(default, meaning[, placeholder])` adds the meaning `--help` prints (and the
-- placeholder of its value, `PATH`; by default N, X or TEXT from the type); a plain default is
-- listed as undocumented.
local cli = {}
local arithmetic = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/arithmetic.lua")

local Optional = {}
function cli.optional(kind, meaning, placeholder, unset)
  return setmetatable({kind = kind, meaning = meaning, placeholder = placeholder, unset = unset}, Optional)
end

local Described = {}
function cli.option(default, meaning, placeholder)
  return setmetatable({default = default, meaning = meaning, placeholder = placeholder}, Described)
end

-- The value of a default, unwrapping cli.option.
local function value_of(default)
  if getmetatable(default) == Described then return default.default end
  return default
end

local function kind_of(default)
  if getmetatable(default) == Optional then return default.kind end
  default = value_of(default)
  if math.type(default) == "integer" then return "integer" end
  return type(default)
end

local placeholders = {integer = "N", number = "X", string = "TEXT"}

--- The `--help` text: the usage, then one line per option (sorted) with its default and meaning.
function cli.help(defaults, usage)
  local names = {}
  for name in pairs(defaults) do names[#names + 1] = name end
  table.sort(names)
  local rows, width = {}, 0
  for _, name in ipairs(names) do
    local d, kind = defaults[name], kind_of(defaults[name])
    local about = type(d) == "table" and d or {}
    local flag = "--" .. name:gsub("_", "-")
    if kind ~= "boolean" then flag = flag .. " " .. (about.placeholder or placeholders[kind] or "VALUE") end
    local default
    if getmetatable(d) == Optional then default = d.unset or "none"
    elseif kind == "boolean" then default = value_of(d) and "on" or "off"
    else default = tostring(value_of(d)) end
    rows[#rows + 1] = {flag, ("%s (default: %s)"):format(about.meaning or "undocumented", default)}
    width = math.max(width, #flag)
  end
  local lines = {("usage: %s"):format(usage), "", "options:"}
  for _, row in ipairs(rows) do
    -- The meaning wrapped to 100 columns, continued under itself.
    local line, column = ("  %-" .. width .. "s "):format(row[1]), width + 3
    for word in row[2]:gmatch("%S+") do
      if #line + #word + 1 > 100 and #line > column then
        lines[#lines + 1] = line
        line = string.rep(" ", column)
      end
      line = line .. " " .. word
    end
    lines[#lines + 1] = line
  end
  lines[#lines + 1] = ("  %-" .. width .. "s  %s"):format("--help", "this text")
  return table.concat(lines, "\n") .. "\n"
end

function cli.parse(args, defaults, usage)
  local function fail(message)
    io.stderr:write(("%s\nusage: %s\n"):format(message, usage))
    os.exit(2)
  end
  local o = {}
  for name, default in pairs(defaults) do
    if getmetatable(default) ~= Optional then o[name] = value_of(default) end
  end
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--help" or a == "-h" then
      io.stdout:write(cli.help(defaults, usage))
      os.exit(0)
    end
    local name = a:match("^%-%-([%w_-]+)$")
    name = name and name:gsub("-", "_")
    if not name or defaults[name] == nil then fail(("unknown option '%s'"):format(a)) end
    local kind = kind_of(defaults[name])
    if kind == "boolean" then
      o[name] = true
      i = i + 1
    else
      local text = args[i + 1]
      if text == nil then fail(("option '--%s' needs a value"):format(name)) end
      local value = text
      if kind == "integer" then
        value = math.tointeger(tonumber(text))
        if not value then fail(("option '--%s': integer expected, got '%s'"):format(name, text)) end
      elseif kind == "number" then
        local problem
        value, problem = arithmetic.evaluate(text)
        if not value then fail(("option '--%s': number expected (or arithmetic such as 8/255), got '%s': %s"):format(name, text, problem)) end
      end
      o[name] = value
      i = i + 2
    end
  end
  o.fail = fail
  return o
end

return cli
