-- The REPL on a terminal, as a user types into it: a child host under `script` (util-linux,
-- in every Debian), which gives it a pseudo-terminal, so the line editor, Tab completion and
-- the REPL's printing run as they do for a person. Input is typed ahead; Tab is "\t". The
-- last line exits: an end of input (^D) that arrives while the REPL runs code can be lost.
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local tests = {}

-- Runs the REPL on a pseudo-terminal with `lines` typed; returns what the terminal showed,
-- carriage returns and escape sequences removed.
local function repl(lines)
  local dir = H.tmpdir()
  local input = dir .. "/input"
  local f = assert(io.open(input, "wb"))
  f:write(table.concat(lines, "\n") .. "\nos.exit(0)\n")
  f:close()
  local command = ("env -u LUA_INIT -u LUA_INIT_5_4 SMIA_HISTORY= script -qec %s /dev/null <%s 2>&1")
    :format(H.quote(H.quote(H.host())), H.quote(input))
  local pipe = assert(io.popen(command))
  local out = pipe:read("a")
  pipe:close()
  H.rmdir(dir)
  return (out:gsub("[\r\a]", ""):gsub("\27%[[%d;?]*%a", ""))
end

local function expect(out, text, what)
  if not out:find(text, 1, true) then error(("%s: expected %q in the terminal:\n%s"):format(what, text, out), 2) end
end

function tests.tab_completes_tensor_module_dataset_and_attack_methods()
  local out = repl{
    "x = smia.tensor.zeros{2, 3}",
    "print('numel', x:nume\t())",
    "m = smia.nn.Linear{in_features = 2, out_features = 1}",
    "print('num_parameters', m:num_para\t())",
    "ds = smia.data.fundus{n = 3, size = 16}",
    "print('size', ds:si\t())",
    "a = smia.attack.pgd{steps = 3}",
    "print('name', a:na\t())",
  }
  -- Each call runs only if Tab completed the method's name.
  expect(out, "\nnumel\t6\n", "tensor method")
  expect(out, "\nnum_parameters\t3\n", "module method")
  expect(out, "\nsize\t3\n", "dataset method")
  expect(out, "\nname\tpgd\n", "attack method")
end

function tests.tables_print_as_lua_and_models_as_one_line()
  local out = repl{
    "g = smia.tensor.zeros{2, 3}:shape()",
    "g",
    "{a = 1, b = {'x', true}}",
    "m = smia.models.resnet18{num_classes = 2}",
    "m:eval()",
  }
  expect(out, "> g\n{2, 3}", "a shape")
  expect(out, '{a = 1, b = {"x", true}}', "a nested table")
  expect(out, "ResNet18 (11,177,538 parameters, eval mode; print(m) shows its", "m:eval()")
  assert(not out:find("layer4", 1, true), "m:eval() printed the whole model:\n" .. out)
  assert(not out:find("table: 0x", 1, true), "a table printed as an address:\n" .. out)
end

function tests.help_and_attack_defaults_in_the_repl()
  local out = repl{
    "help(smia.attack.pgd)",
    "smia.attack.mifgsm{steps = 4}",
  }
  expect(out, "smia.attack.pgd{eps, step, steps, norm, ...}", "help")
  expect(out, "random_start = true", "help's options")
  expect(out, "smia.attack.mifgsm{eps = 8/255, targeted = false", "an attack's options")
  expect(out, "step = 2/255, steps = 4", "an attack's options")
  expect(out, "decay = 1", "an attack's default")
end

return tests
