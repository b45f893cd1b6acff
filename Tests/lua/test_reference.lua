-- The reference (docs/reference.md, `help`) against the code: every smia function and method
-- has an entry and every entry names one; every option a constructor reads is documented and
-- every documented option is read; ctx and stats hold exactly the documented fields; the file
-- is what `make reference` writes now. And `--help` of the main job describes every option.
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")
local T, nn = smia.tensor, smia.nn
local help, R = smia.help, smia.help.reference

local REGENERATE = "regenerate it with `make reference` (or: .build/release/smia-lua scripts/reference.lua docs/reference.md)"
local EDIT = "document it in Sources/LuaBridge/Lua/reference.lua, then `make reference`"

local tests = {}

-- Every entry by name.
local function entries()
  local out = {}
  for _, s in ipairs(R.sections) do
    for _, e in ipairs(s.entries) do
      for _, name in ipairs(e.names) do out[name] = e end
    end
  end
  return out
end

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- Names in `a` and not in `b`.
local function missing(a, b)
  local out = {}
  for _, k in ipairs(sorted_keys(a)) do if not b[k] then out[#out + 1] = k end end
  return out
end

function tests.every_function_and_method_has_an_entry()
  local documented = entries()
  local found, seen = {}, {}
  local function walk(t, path)
    if seen[t] then return end
    seen[t] = true
    for k, v in pairs(t) do
      if type(k) == "string" then
        if type(v) == "function" then found[path .. "." .. k] = true
        elseif type(v) == "table" and k ~= "reference" then walk(v, path .. "." .. k) end
      end
    end
  end
  walk(smia, "smia")
  for kind, methods in pairs(help.method_tables()) do
    for k, v in pairs(methods) do
      if type(v) == "function" then found[kind .. ":" .. k] = true end
    end
  end
  local det = smia.models.detector{}
  for _, m in ipairs{"loss", "decode"} do
    if det[m] then found["Detector:" .. m] = true end
  end
  local undocumented = missing(found, documented)
  assert(#undocumented == 0, "functions without a reference entry: " .. table.concat(undocumented, ", ") .. "; " .. EDIT)
  local stale = {}
  for _, name in ipairs(sorted_keys(documented)) do
    if not found[name] and name ~= "help" and name ~= "Module:__call" then stale[#stale + 1] = name end
  end
  assert(#stale == 0, "reference entries naming no function: " .. table.concat(stale, ", ") .. "; remove them from Sources/LuaBridge/Lua/reference.lua")
  H.eq(type(rawget(_G, "help")), "function", "the global help")
end

function tests.every_option_in_the_code_is_documented_and_no_other()
  local problems = {}
  for name, e in pairs(entries()) do
    if e.names[1] == name and (e.call or e.lua_options) then
      local names, err = help.code_options(e)
      if not names then
        problems[#problems + 1] = err
      else
        local code, doc = {}, e.options or {}
        for _, n in ipairs(names) do code[n] = true end
        for _, n in ipairs(missing(code, doc)) do problems[#problems + 1] = ("%s: option '%s' is read by the code but not documented"):format(name, n) end
        for _, n in ipairs(missing(doc, code)) do problems[#problems + 1] = ("%s: option '%s' is documented but the code does not read it"):format(name, n) end
      end
    end
  end
  table.sort(problems)
  assert(#problems == 0, table.concat(problems, "\n") .. "\n" .. EDIT)
end

function tests.attack_defaults_come_from_the_code()
  -- A few defaults as the constructors apply them, seen through help and through tostring.
  local pgd = {}
  for _, o in ipairs(help.options("smia.attack.pgd")) do pgd[o.name] = o.default end
  H.eq(pgd.eps, "8/255", "pgd eps")
  H.eq(pgd.step, "eps/4", "pgd step")
  H.eq(pgd.steps, "10", "pgd steps")
  H.eq(pgd.random_start, "true", "pgd random_start")
  H.eq(pgd.norm, "'linf' ('linf' or 'l2')", "pgd norm")
  local bim = {}
  for _, o in ipairs(help.options("smia.attack.bim")) do bim[o.name] = o.default end
  H.eq(bim.random_start, nil, "bim has no random_start")
  local text = tostring(smia.attack.smia{steps = 3})
  for _, piece in ipairs{"eps = 8/255", "step = 2/255", "steps = 3", "alpha = 1", "kernel_size = 5", "sigma = 1",
                         "detach_target = false", "smooth = 'accumulated'", "projection = 'linf'", "early_stop = false",
                         "mask = nil", "on_step = nil", "record = false", "task = nil", "random_start = false", "restarts = 1"} do
    assert(text:find(piece, 1, true), ("tostring of an attack shows %q:\n%s"):format(piece, text))
  end
  local deepfool = tostring(smia.attack.deepfool{})
  assert(deepfool:find("overshoot = 0.02", 1, true) and deepfool:find("norm = 'l2'", 1, true), deepfool)
end

-- A tiny classifier, segmenter and detector.
local function models()
  smia.seed(3)
  local classifier = nn.Sequential{nn.Flatten{}, nn.Linear{in_features = 12, out_features = 3}}
  local segmenter = nn.Conv2d{in_channels = 3, out_channels = 2, kernel_size = 1}
  local detector = smia.models.detector{num_classes = 1, width = 4}
  return classifier, segmenter, detector
end

function tests.ctx_has_exactly_the_documented_fields()
  local classifier, _, detector = models()
  local seen = {}
  local function capture(ctx)
    for k in pairs(ctx) do seen[k] = true end
    return nn.cross_entropy(ctx.output, ctx.y)
  end
  smia.attack.iterative{steps = 1, loss = capture}:run(classifier, T.rand({2, 3, 2, 2}, 1), T{0, 1})
  local boxes = {{{2, 2, 10, 10, 0}}}
  smia.attack.iterative{steps = 1, loss = function(ctx)
    for k in pairs(ctx) do seen[k] = true end
    return ctx.output:sum()
  end}:run(detector, T.rand({1, 3, 16, 16}, 2), boxes)
  local documented = {}
  for _, f in ipairs(R.ctx) do documented[f[1]] = true end
  local undocumented, absent = missing(seen, documented), missing(documented, seen)
  assert(#undocumented == 0 and #absent == 0,
    ("ctx fields not documented: %s; documented but absent: %s; %s"):format(table.concat(undocumented, ", "), table.concat(absent, ", "), EDIT))
end

function tests.stats_has_exactly_the_documented_fields()
  local classifier, segmenter, detector = models()
  local seen = {}
  local function note(_, stats) for k in pairs(stats) do seen[k] = true end end
  local x = T.rand({2, 3, 12, 12}, 4)
  note(smia.attack.pgd{steps = 2, record = true}:run(nn.Sequential{nn.Flatten{}, nn.Linear{in_features = 432, out_features = 3}}, x, T{0, 1}))
  note(smia.attack.pgd{steps = 2}:run(segmenter, x, T.zeros{2, 12, 12}))
  note(smia.attack.pgd{steps = 1}:run(detector, T.rand({1, 3, 16, 16}, 5), {{{2, 2, 10, 10, 0}}}))
  local documented = {}
  for _, f in ipairs(R.stats) do documented[f[1]] = true end
  local undocumented, absent = missing(seen, documented), missing(documented, seen)
  assert(#undocumented == 0 and #absent == 0,
    ("stats fields not documented: %s; documented but absent: %s; %s"):format(table.concat(undocumented, ", "), table.concat(absent, ", "), EDIT))
  local _ = classifier
end

function tests.docs_reference_md_is_current()
  local f = io.open(H.root .. "docs/reference.md", "rb")
  assert(f, "docs/reference.md is missing; " .. REGENERATE)
  local text = f:read("a")
  f:close()
  if text ~= help.markdown() then
    error("docs/reference.md differs from what the code and Sources/LuaBridge/Lua/reference.lua give; " .. REGENERATE)
  end
end

function tests.help_finds_entries_by_value_and_by_name()
  local by_value = assert(help.text(smia.attack.pgd))
  assert(by_value:find("smia.attack.pgd{", 1, true) and by_value:find("random_start = true", 1, true), by_value)
  H.eq(help.text("pgd"), by_value, "help('pgd')")
  H.eq(help.text(smia.attack.pgd{}), by_value, "help of an attack object")
  local sum = assert(help.text("Tensor:sum"))
  assert(sum:find("t:sum", 1, true), sum)
  H.eq(help.text(getmetatable(T.zeros{1}).methods.sum), sum, "help of a method value")
  assert(help.text("ctx"):find("x_adv", 1, true))
  assert(help.text("stats"):find("success_rate", 1, true))
  assert(help.text("metrics"):find("map50", 1, true))
  assert(help.text("smia.attack"):find("smia.attack.smia", 1, true))
  local overview = help.text()
  for _, s in ipairs(R.sections) do assert(overview:find(s.name, 1, true), s.name .. " missing from help()") end
  local none, message = help.text("no_such_thing")
  assert(none == nil and message:find("nothing named 'no_such_thing'", 1, true), message)
  H.eq(help.name_of(smia.nn.Conv2d), "smia.nn.Conv2d", "name_of")
end

function tests.help_prints_in_a_script()
  local script = os.tmpname()
  local f = assert(io.open(script, "wb"))
  f:write('help(smia.attack.pgd)\nhelp("dag")\nhelp()\n')
  f:close()
  local pipe = assert(io.popen(("%s %s </dev/null 2>&1"):format(H.quote(H.host()), H.quote(script))))
  local out = pipe:read("a")
  local ok = pipe:close()
  os.remove(script)
  assert(ok, out)
  assert(out:find("smia.attack.pgd{eps, step, steps, norm, ...}", 1, true), out)
  assert(out:find("eps = 8/255", 1, true), out)
  assert(out:find("smia.attack.dag{gamma, steps, ...}", 1, true), out)
  assert(out:find("smia.attack", 1, true) and out:find("Tensors", 1, true), out)
end

function tests.main_job_help_lists_every_option_with_default_and_meaning()
  local pipe = assert(io.popen(("cd %s && %s scripts/smia.lua --help 2>&1"):format(H.quote(H.root), H.quote(H.host()))))
  local out = pipe:read("a")
  local ok = pipe:close()
  assert(ok, out)
  assert(not out:find("undocumented", 1, true), "an option of scripts/smia.lua has no meaning (cli.option(default, meaning)):\n" .. out)
  -- One option per entry: its line and the continuation lines below it.
  local options = {}
  for line in out:gmatch("[^\n]+") do
    local flag = line:match("^  (%-%-[%w-]+)")
    if flag then options[#options + 1] = {flag = flag, text = line}
    elseif #options > 0 and line:match("^%s+%S") then options[#options].text = options[#options].text .. " " .. line end
  end
  for _, o in ipairs(options) do
    if o.flag ~= "--help" then
      assert(o.text:find("%(default: [^)]"), "no default for " .. o.flag .. ":\n" .. out)
      assert(#o.text:gsub("%(default:.*", ""):gsub("^%s*%S+%s+%S+", "") > 8, "no meaning for " .. o.flag .. ":\n" .. out)
    end
  end
  for _, flag in ipairs{"--tasks", "--n", "--full", "--eps", "--step", "--steps", "--alpha", "--out", "--sweep"} do
    assert(out:find("\n  " .. flag .. " ", 1, true), flag .. " missing from --help:\n" .. out)
  end
  assert(#options >= 10, out)
end

return tests
