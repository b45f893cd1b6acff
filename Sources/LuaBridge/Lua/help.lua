-- help: the reference (reference.lua, run before this file) in the REPL and in scripts, and as
-- the Markdown of docs/reference.md. Option names and defaults come from the code: each entry's
-- `call` runs under smia.options_read, which reports the option tables the constructors read.
local smia, tensor_mt, module_mt = ...
local help = smia.help
local R = help.reference

-- Names and values -------------------------------------------------------------------------

-- The method tables of the userdata types, by the prefix their entries use ("Tensor:sum").
local function method_tables()
  local T = smia.tensor
  local tables = {
    Tensor = tensor_mt.methods,
    Module = module_mt.methods,
    Attack = getmetatable(smia.attack.fgsm{}).__index,
    Optimizer = getmetatable(smia.optim.sgd({T.zeros{1}}, {lr = 1})).methods,
  }
  local ok, ds = pcall(smia.data.fundus, {n = 1, size = 16})
  if ok then tables.Dataset = getmetatable(ds).methods end
  return tables
end
help.method_tables = method_tables

-- The value a reference name stands for, or nil.
local function resolve(name, methods)
  if name == "help" then return rawget(_G, "help") end
  if name == "Module:__call" then return module_mt.__call end
  local kind, method = name:match("^(%u%a*):([%w_]+)$")
  if kind then
    if kind == "Detector" then return nil end -- looked up per detector, no shared value
    return methods[kind] and rawget(methods[kind], method)
  end
  local value = _G
  for part in name:gmatch("[^.]+") do
    if type(value) ~= "table" then return nil end
    value = rawget(value, part)
  end
  return value
end

local index -- name -> {entry, section}; value -> name
local function build_index()
  if index then return index end
  index = {byName = {}, byValue = {}, entries = {}}
  local methods = method_tables()
  for _, s in ipairs(R.sections) do
    for _, e in ipairs(s.entries) do
      index.entries[#index.entries + 1] = e
      for _, name in ipairs(e.names) do
        index.byName[name] = {entry = e, section = s}
        local value = resolve(name, methods)
        if value ~= nil and index.byValue[value] == nil then index.byValue[value] = name end
      end
    end
  end
  return index
end

function help.name_of(f) return build_index().byValue[f] end

-- Options ----------------------------------------------------------------------------------

local function short(name) return name:match("[.:]([%w_]+)$") or name end

-- Follows a chain of upvalue names from function f to a value.
local function upvalue_path(f, path)
  local value = f
  for _, wanted in ipairs(path) do
    local found
    for i = 1, 255 do
      local name, v = debug.getupvalue(value, i)
      if name == nil then break end
      if name == wanted then found = v break end
    end
    if found == nil then return nil end
    value = found
  end
  return value
end

--- The option names the code accepts for an entry, in the code's order, and their defaults
--- (nil when the code gives none); nil when the entry has no options.
function help.code_options(e)
  if e.lua_options then
    local known = upvalue_path(resolve(e.names[1], {}), e.lua_options)
    if type(known) ~= "table" then return nil, "cannot find the option table of " .. e.names[1] end
    local names = {}
    for k in pairs(known) do names[#names + 1] = k end
    table.sort(names)
    return names, {}
  end
  if not e.call then return nil end
  local wanted = {}
  for _, name in ipairs(e.names) do wanted[short(name)] = true end
  local records = smia.options_read(e.call)
  local names, defaults, seen, matched = {}, {}, {}, false
  for _, record in ipairs(records) do
    if wanted[record["function"]] then
      matched = true
      for _, name in ipairs(record.names) do
        if not seen[name] then seen[name] = true; names[#names + 1] = name end
      end
      for _, d in ipairs(record.defaults) do
        if defaults[d[1]] == nil then defaults[d[1]] = d[2] end
      end
    end
  end
  if not matched then
    return nil, ("the call of %s read no option table of %s"):format(e.names[1], table.concat(e.names, ", "))
  end
  return names, defaults
end

function help.options(name)
  local found = build_index().byName[name]
  if not found then return nil end
  local names, defaults = help.code_options(found.entry)
  if not names then return nil end
  local out = {}
  for _, n in ipairs(names) do
    out[#out + 1] = {name = n, default = defaults[n] or "nil", meaning = (found.entry.options or {})[n] or ""}
  end
  return out
end

-- Text -------------------------------------------------------------------------------------

local function indent(text, prefix)
  return prefix .. text:gsub("\n", "\n" .. prefix)
end

-- `text` wrapped to `width` columns, every line after the first indented by `hang` spaces.
local function wrap(text, width, hang)
  local lines, line = {}, ""
  for word in text:gmatch("%S+") do
    if #line > 0 and #line + 1 + #word > width then
      lines[#lines + 1] = line
      line = string.rep(" ", hang) .. word
    else
      line = #line > 0 and (line .. " " .. word) or word
    end
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

local function options_text(e)
  local names, defaults = help.code_options(e)
  if not names or #names == 0 then return "" end
  local width = 0
  for _, n in ipairs(names) do width = math.max(width, #n + #(defaults[n] or "nil") + 3) end
  width = math.min(width, 34)
  local lines = {"  options (name = default):"}
  for _, n in ipairs(names) do
    local left = ("%s = %s"):format(n, defaults[n] or "nil")
    local hang = string.rep(" ", 5 + width)
    local meaning = wrap((e.options or {})[n] or "", 95 - width, 0):gsub("\n", "\n" .. hang)
    if #left > width then
      lines[#lines + 1] = "    " .. left
      lines[#lines + 1] = hang .. meaning
    else
      lines[#lines + 1] = ("    %-" .. width .. "s %s"):format(left, meaning)
    end
  end
  return "\n" .. table.concat(lines, "\n")
end

local function entry_text(e)
  local head = e.signature
  if #e.names > 1 then head = head .. "\n  (" .. table.concat(e.names, ", ") .. ")" end
  return head .. "\n" .. indent(e.text, "  ") .. options_text(e)
end

local function field_list(title, list)
  local lines = {title}
  local width = 0
  for _, f in ipairs(list) do width = math.max(width, #f[1]) end
  for _, f in ipairs(list) do
    local when = f[3] and (" [" .. f[3] .. "]") or ""
    lines[#lines + 1] = ("  %-" .. width .. "s  %s%s"):format(f[1], f[2]:gsub("\n", " "), when)
  end
  return table.concat(lines, "\n")
end

local specials = {
  ctx = function() return field_list("ctx: the argument of an iterative attack's loss(ctx)", R.ctx) end,
  stats = function() return field_list("stats: the second result of a:run(model, x, y)", R.stats) end,
  metrics = function() return field_list("metrics: definitions", R.metrics) end,
}

local function section_text(s)
  local lines = {("%s: %s"):format(s.name, s.title), indent(s.text, "  "), "  entries:"}
  for _, e in ipairs(s.entries) do lines[#lines + 1] = "    " .. table.concat(e.names, ", ") end
  return table.concat(lines, "\n")
end

local function overview()
  local lines = {"smia-lua reference: help(f), help(\"name\") (e.g. help(\"pgd\"), help(\"Tensor:sum\")),",
                 "help(\"ctx\"), help(\"stats\"), help(\"metrics\"); all of it in docs/reference.md.", ""}
  for _, s in ipairs(R.sections) do
    local names = {}
    for _, e in ipairs(s.entries) do
      for _, n in ipairs(e.names) do names[#names + 1] = n:find(":", 1, true) and n or short(n) end
    end
    local text = wrap(s.title .. ": " .. table.concat(names, " "), 84, 0):gsub("\n", "\n" .. string.rep(" ", 16))
    lines[#lines + 1] = ("%-15s %s"):format(s.name, text)
  end
  return table.concat(lines, "\n")
end

function help.text(what)
  local idx = build_index()
  if what == nil then return overview() end
  if type(what) ~= "string" then
    local name = idx.byValue[what]
    if not name and smia.is_tensor(what) then name = "smia.tensor" end
    if not name and smia.is_module(what) then return help.text("Module:forward") end
    if not name and type(what) == "userdata" and type(what.run) == "function" and type(what.name) == "function" then
      name = "smia.attack." .. what:name()
    end
    if not name then return nil, ("help: no entry for this %s (help() lists the sections)"):format(type(what)) end
    what = name
  end
  if specials[what] then return specials[what]() end
  if idx.byName[what] then return entry_text(idx.byName[what].entry) end
  for _, s in ipairs(R.sections) do
    if s.name == what then return section_text(s) end
  end
  local matches = {}
  for name, found in pairs(idx.byName) do
    if short(name) == what or name:lower():find(what:lower(), 1, true) then matches[#matches + 1] = name end
  end
  table.sort(matches)
  if #matches == 1 then return entry_text(idx.byName[matches[1]].entry) end
  if #matches > 1 then
    local exact = {}
    for _, name in ipairs(matches) do if short(name) == what then exact[#exact + 1] = name end end
    if #exact == 1 then return entry_text(idx.byName[exact[1]].entry) end
    return ("%d entries match '%s': %s"):format(#matches, what, table.concat(#exact > 1 and exact or matches, ", "))
  end
  return nil, ("help: nothing named '%s' (help() lists the sections)"):format(what)
end

function help.print(what)
  local text, message = help.text(what)
  print(text or message)
end
_G.help = help.print

-- Markdown ---------------------------------------------------------------------------------

local function cell(s) return (s:gsub("|", "\\|"):gsub("\n", " ")) end

local function anchor(s) return (s:lower():gsub("[^%w%- ]", ""):gsub(" ", "-")) end

function help.markdown()
  local out = {}
  local function add(s) out[#out + 1] = s end
  add("# smia-lua reference\n")
  add("Every function and method of the Lua API, every option of every constructor with its default,")
  add("the fields of an attack loss's `ctx` and of an attack's `stats`, and the definitions of the")
  add("metrics. In the REPL or a script, `help(f)` or `help(\"name\")` prints an entry.\n")
  add("This file is generated (`make reference`) from Sources/LuaBridge/Lua/reference.lua and, for the")
  add("option names and defaults, from the option tables the code reads; Tests/lua/test_reference.lua")
  add("fails when it falls behind. README.md is the introduction.\n")
  add("## Contents\n")
  for _, s in ipairs(R.sections) do add(("- [%s](#%s)"):format(s.title .. " (`" .. s.name .. "`)", anchor(s.title .. " " .. s.name))) end
  add("- [The loss context `ctx`](#the-loss-context-ctx)")
  add("- [Attack statistics `stats`](#attack-statistics-stats)")
  add("- [Metrics](#metrics-definitions)\n")
  for _, s in ipairs(R.sections) do
    add(("## %s `%s`\n"):format(s.title, s.name))
    add(s.text .. "\n")
    for _, e in ipairs(s.entries) do
      add(("### `%s`\n"):format(e.signature))
      if #e.names > 1 then
        local quoted = {}
        for i, n in ipairs(e.names) do quoted[i] = "`" .. n .. "`" end
        add(table.concat(quoted, ", ") .. "\n")
      end
      add(e.text .. "\n")
      local names, defaults = help.code_options(e)
      if names and #names > 0 then
        add("| option | default | meaning |")
        add("| --- | --- | --- |")
        for _, n in ipairs(names) do
          add(("| `%s` | `%s` | %s |"):format(n, cell(defaults[n] or "nil"), cell((e.options or {})[n] or "")))
        end
        add("")
      end
    end
  end
  add("## The loss context `ctx`\n")
  add("`smia.attack.iterative{loss = function(ctx) ... end}` calls the loss with these fields:\n")
  add("| field | meaning |")
  add("| --- | --- |")
  for _, f in ipairs(R.ctx) do add(("| `%s` | %s |"):format(f[1], cell(f[2]))) end
  add("\n## Attack statistics `stats`\n")
  add("`local x_adv, stats = a:run(model, x, y)`; a field given with a condition is there only then.\n")
  add("| field | meaning | when |")
  add("| --- | --- | --- |")
  for _, f in ipairs(R.stats) do add(("| `%s` | %s | %s |"):format(f[1], cell(f[2]), f[3] or "always")) end
  add("\n## Metrics: definitions\n")
  add("| metric | definition |")
  add("| --- | --- |")
  for _, f in ipairs(R.metrics) do add(("| %s | %s |"):format(f[1], cell(f[2]))) end
  add("")
  return table.concat(out, "\n")
end
