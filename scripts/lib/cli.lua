-- Command-line options for the scripts: `--name value` pairs (and bare `--flag`s), checked
-- against a table of defaults; `--help` prints the usage. A bad option prints the problem and
-- the usage on stderr and exits with status 2.
--
--   local cli = dofile(here .. "/../lib/cli.lua")
--   local o = cli.parse(arg, {epochs = 4, out = "models/x.safetensors", full = false},
--                       "smia-lua scripts/train/x.lua [--epochs N] [--out PATH]")
--
-- The type of each default decides how a value is read: integer, number, string, or boolean
-- (a flag, given without a value); a number may be written as arithmetic (`--eps 8/255`, see
-- arithmetic.lua). A default of `cli.optional("number")` has no value unless given.
local cli = {}
local arithmetic = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/arithmetic.lua")

local Optional = {}
function cli.optional(kind) return setmetatable({kind = kind}, Optional) end

local function kind_of(default)
  if getmetatable(default) == Optional then return default.kind end
  if math.type(default) == "integer" then return "integer" end
  return type(default)
end

function cli.parse(args, defaults, usage)
  local function fail(message)
    io.stderr:write(("%s\nusage: %s\n"):format(message, usage))
    os.exit(2)
  end
  local o = {}
  for name, default in pairs(defaults) do
    if getmetatable(default) ~= Optional then o[name] = default end
  end
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--help" or a == "-h" then
      io.stdout:write(("usage: %s\n"):format(usage))
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
