-- The host's command line, run through io.popen on the interpreter running these tests
-- (the most negative index of `arg`). Every child gets its standard input from a file or
-- /dev/null, so none of them ever opens the REPL on a terminal, and runs without LUA_INIT
-- and without a history file.

local function interpreter()
  assert(type(arg) == "table", "the host tests need the global 'arg'")
  local lowest = 0
  while arg[lowest - 1] ~= nil do lowest = lowest - 1 end
  assert(lowest < 0, "cannot find the interpreter in 'arg'")
  return arg[lowest]
end

local HOST = interpreter()

local function quote(s)
  return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end

local function read_all(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

local function write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local temporaries = {}
local function temp_file(text, suffix)
  local path = os.tmpname()
  if suffix then
    os.remove(path)
    path = path .. suffix
  end
  temporaries[#temporaries + 1] = path
  write_file(path, text or "")
  return path
end

local function cleanup()
  for i = #temporaries, 1, -1 do
    os.remove(temporaries[i])
    temporaries[i] = nil
  end
end

-- Runs the host with `args`; `opts.stdin` is the text on its standard input (default none),
-- `opts.env` a table of environment variables. Returns {out, err, code}.
local function run(args, opts)
  opts = opts or {}
  local parts = { "env", "-u", "LUA_INIT", "-u", "LUA_INIT_5_4", "SMIA_HISTORY=" }
  for name, value in pairs(opts.env or {}) do
    parts[#parts + 1] = name .. "=" .. quote(value)
  end
  parts[#parts + 1] = quote(HOST)
  for _, a in ipairs(args) do parts[#parts + 1] = quote(a) end
  local input = opts.stdin and temp_file(opts.stdin) or "/dev/null"
  local errors = temp_file("")
  parts[#parts + 1] = "<" .. quote(input)
  parts[#parts + 1] = "2>" .. quote(errors)
  local command = table.concat(parts, " ")
  local pipe = assert(io.popen(command, "r"))
  local out = pipe:read("a")
  local _, how, code = pipe:close()
  local result = { out = out, err = read_all(errors), code = code, how = how, command = command }
  os.remove(errors)
  if opts.stdin then os.remove(input) end
  return result
end

local function show(r)
  return ("\n  command: %s\n  exit: %s %s\n  stdout: %q\n  stderr: %q")
    :format(r.command, r.how, r.code, r.out, r.err)
end

local function expect_code(r, code)
  if r.how ~= "exit" or r.code ~= code then
    error(("expected exit status %d%s"):format(code, show(r)), 2)
  end
end

local function expect_find(text, pattern, r, what)
  if not text:find(pattern) then
    error(("expected %s to match %q%s"):format(what, pattern, show(r)), 2)
  end
end

local function expect_eq(actual, expected, r, what)
  if actual ~= expected then
    error(("expected %s to be %q%s"):format(what, expected, show(r)), 2)
  end
end

local tests = {}

function tests.version_line()
  local r = run({ "-v" })
  expect_code(r, 0)
  expect_find(r.out, "smia%-lua", r, "stdout")
  expect_find(r.out, "Lua 5%.4", r, "stdout")
end

function tests.script_success_exits_zero()
  local script = temp_file('print("ok")\n', ".lua")
  local r = run({ script })
  expect_code(r, 0)
  expect_eq(r.out, "ok\n", r, "stdout")
  expect_eq(r.err, "", r, "stderr")
end

function tests.script_error_prints_message_and_traceback()
  local script = temp_file('local function inner()\n  error("boom")\nend\ninner()\n', ".lua")
  local r = run({ script })
  expect_code(r, 1)
  expect_find(r.err, "boom", r, "stderr")
  expect_find(r.err, ":2: boom", r, "stderr")
  expect_find(r.err, "stack traceback:", r, "stderr")
  expect_find(r.err, "in local 'inner'", r, "stderr")
  expect_eq(r.out, "", r, "stdout")
end

function tests.error_objects_that_are_not_strings()
  local r = run({ "-e", "error({})" })
  expect_code(r, 1)
  expect_find(r.err, "%(error object is a table value%)", r, "stderr")
  r = run({ "-e", "error(setmetatable({}, {__tostring = function() return 'custom!' end}))" })
  expect_code(r, 1)
  expect_find(r.err, "custom!", r, "stderr")
end

function tests.syntax_error_in_script()
  local script = temp_file("x = = 1\n", ".lua")
  local r = run({ script })
  expect_code(r, 1)
  expect_find(r.err, "unexpected symbol", r, "stderr")
end

function tests.missing_script_file()
  local r = run({ "/nonexistent/dir/no_such_script.lua" })
  expect_code(r, 1)
  expect_find(r.err, "cannot open /nonexistent/dir/no_such_script%.lua", r, "stderr")
  expect_find(r.err, "No such file", r, "stderr")
end

function tests.execute_option()
  local r = run({ "-e", "print(1 + 1)" })
  expect_code(r, 0)
  expect_eq(r.out, "2\n", r, "stdout")
  -- attached argument, several -e in order, one shared state
  r = run({ "-ex = 20", "-e", "print(x + 1)" })
  expect_code(r, 0)
  expect_eq(r.out, "21\n", r, "stdout")
end

function tests.execute_error_stops_with_status_one()
  local r = run({ "-e", "error('stop here')", "-e", "print('not reached')" })
  expect_code(r, 1)
  expect_find(r.err, "%(command line%):1: stop here", r, "stderr")
  expect_eq(r.out, "", r, "stdout")
end

function tests.execute_and_script_share_state()
  local script = temp_file("print(shared * 2)\n", ".lua")
  local r = run({ "-e", "shared = 21", script })
  expect_code(r, 0)
  expect_eq(r.out, "42\n", r, "stdout")
end

function tests.smia_is_preloaded()
  local r = run({ "-e", "assert(type(smia) == 'table' and require('smia') == smia); "
    .. "local t = smia.clock(); assert(math.type(t) == 'float'); print('ok')" })
  expect_code(r, 0)
  expect_eq(r.out, "ok\n", r, "stdout")
end

function tests.script_arguments()
  local script = temp_file("print(select('#', ...), ...)\n"
    .. "print(#arg, arg[1], arg[2], arg[3])\n"
    .. "print(arg[0])\n"
    .. "print(arg[-1])\n", ".lua")
  local r = run({ script, "a", "b c", "-x" })
  expect_code(r, 0)
  local expected = table.concat({
    "3\ta\tb c\t-x",
    "3\ta\tb c\t-x",
    script,
    HOST,
  }, "\n") .. "\n"
  expect_eq(r.out, expected, r, "stdout")
end

function tests.arguments_below_zero_hold_the_options()
  local script = temp_file("print(arg[-3] == nil, arg[-2], arg[-1])\n", ".lua")
  local r = run({ "-e", "x=1", script })
  expect_code(r, 0)
  expect_eq(r.out, "false\t-e\tx=1\n", r, "stdout")
end

function tests.no_script_arg_table()
  local r = run({ "-e", "print(arg[0] ~= nil, arg[1], arg[2])" })
  expect_code(r, 0)
  expect_eq(r.out, "true\t-e\tprint(arg[0] ~= nil, arg[1], arg[2])\n", r, "stdout")
end

function tests.dash_reads_the_script_from_stdin()
  local r = run({ "-", "p", "q" }, { stdin = "print(arg[0], ...)\n" })
  expect_code(r, 0)
  expect_eq(r.out, "-\tp\tq\n", r, "stdout")
end

function tests.double_dash_stops_options()
  local script = temp_file("print(...)\n", ".lua")
  local r = run({ "--", script, "-e", "--" })
  expect_code(r, 0)
  expect_eq(r.out, "-e\t--\n", r, "stdout")
  -- a lone `--` with nothing after it: standard input is the script
  r = run({ "--" }, { stdin = "print('from stdin')\n" })
  expect_code(r, 0)
  expect_eq(r.out, "from stdin\n", r, "stdout")
end

function tests.non_terminal_stdin_runs_as_script()
  local r = run({}, { stdin = "local x = 6\nprint(x * 7)\n" })
  expect_code(r, 0)
  expect_eq(r.out, "42\n", r, "stdout")
  r = run({}, { stdin = "error('piped failure')\n" })
  expect_code(r, 1)
  expect_find(r.err, "stdin:1: piped failure", r, "stderr")
  expect_find(r.err, "stack traceback:", r, "stderr")
end

function tests.unknown_option()
  local r = run({ "-x" })
  expect_code(r, 1)
  expect_find(r.err, "unrecognized option '%-x'", r, "stderr")
  expect_find(r.err, "usage: ", r, "stderr")
  expect_eq(r.out, "", r, "stdout")
  r = run({ "-vx" })
  expect_code(r, 1)
  expect_find(r.err, "unrecognized option '%-vx'", r, "stderr")
end

function tests.option_missing_its_argument()
  for _, option in ipairs({ "-e", "-l" }) do
    local r = run({ option })
    expect_code(r, 1)
    expect_find(r.err, "'" .. option .. "' needs argument", r, "stderr")
  end
  local r = run({ "-e", "-v" }) -- an option is not an argument
  expect_code(r, 1)
  expect_find(r.err, "'%-e' needs argument", r, "stderr")
end

function tests.require_option()
  local module = temp_file("return { answer = 42 }\n", ".lua")
  local dir, name = module:match("^(.*)/([^/]+)%.lua$")
  local env = { LUA_PATH = dir .. "/?.lua" }
  local r = run({ "-l", name, "-e", ("print(%s.answer)"):format(name) }, { env = env })
  expect_code(r, 0)
  expect_eq(r.out, "42\n", r, "stdout")
  r = run({ "-l", "m=" .. name, "-e", "print(m.answer)" }, { env = env })
  expect_code(r, 0)
  expect_eq(r.out, "42\n", r, "stdout")
  r = run({ "-l", "no_such_module_anywhere" })
  expect_code(r, 1)
  expect_find(r.err, "module 'no_such_module_anywhere' not found", r, "stderr")
end

function tests.lua_init_and_ignore_environment()
  local r = run({ "-e", "print(from_init)" }, { env = { LUA_INIT = "from_init = 'init ran'" } })
  expect_code(r, 0)
  expect_eq(r.out, "init ran\n", r, "stdout")
  local file = temp_file("from_init = 'init file ran'\n", ".lua")
  r = run({ "-e", "print(from_init)" }, { env = { LUA_INIT = "@" .. file } })
  expect_code(r, 0)
  expect_eq(r.out, "init file ran\n", r, "stdout")
  r = run({ "-E", "-e", "print(from_init)" }, { env = { LUA_INIT = "from_init = 1" } })
  expect_code(r, 0)
  expect_eq(r.out, "nil\n", r, "stdout")
  r = run({ "-e", "print(1)" }, { env = { LUA_INIT = "error('bad init')" } })
  expect_code(r, 1)
  expect_find(r.err, "LUA_INIT:1: bad init", r, "stderr")
end

function tests.warnings_option()
  local r = run({ "-W", "-e", "warn('careful')" })
  expect_code(r, 0)
  expect_find(r.err, "Lua warning: careful", r, "stderr")
  r = run({ "-e", "warn('quiet')" })
  expect_eq(r.err, "", r, "stderr")
end

function tests.os_exit_status_passes_through()
  local r = run({ "-e", "os.exit(3)" })
  expect_code(r, 3)
  r = run({ "-e", "os.exit(false)" })
  expect_code(r, 1)
end

function tests.interactive_on_piped_input()
  -- `-i` on a stream that is not a terminal: prompts on stdout, one line at a time.
  local input = table.concat({
    "1 + 1",                 -- an expression prints its value
    "x, 'two', nil",         -- several values, tab-separated
    "for i = 1, 2 do",       -- an unfinished statement continues...
    "  io.write(i, ' ')",
    "end",                   -- ...until complete
    "error('oops')",         -- an error is reported and the loop goes on
    "=x * 2",                -- `=expr`, as in Lua 5.1
    "x = ",                  -- continuation after an operator
    "5",
    "x",
  }, "\n") .. "\n"
  local r = run({ "-e", "x = 10", "-i" }, { stdin = input })
  expect_code(r, 0)
  local banner, engine, rest = r.out:match("^([^\n]*)\n([^\n]*)\n(.*)$")
  expect_find(banner or "", "smia%-lua", r, "banner")
  expect_find(engine or "", "OpenBLAS", r, "the banner's engine line")
  expect_eq(rest, "> 2\n> 10\ttwo\tnil\n> >> >> 1 2 > > 20\n> >> > 5\n> \n", r, "REPL output")
  expect_find(r.err, "^stdin:1: oops\nstack traceback:\n", r, "stderr")
end

function tests.interactive_after_script()
  local script = temp_file("greeting = 'hi from script'\n", ".lua")
  local r = run({ "-i", script }, { stdin = "greeting\n" })
  expect_code(r, 0)
  expect_find(r.out, "> hi from script\n", r, "stdout")
  -- a failing script does not enter the REPL
  local failing = temp_file("error('early')\n", ".lua")
  r = run({ "-i", failing }, { stdin = "print('unreachable')\n" })
  expect_code(r, 1)
  expect_eq(r.out:find("unreachable", 1, true), nil, r, "stdout has no REPL output")
end

function tests.interactive_unfinished_chunk_at_end_of_input()
  local r = run({ "-i" }, { stdin = "for i = 1, 2 do\n" })
  expect_code(r, 0)
  expect_find(r.err, "'end' expected", r, "stderr")
end

function tests.interactive_prompt_variables()
  local r = run({ "-e", "_PROMPT = 'smia> '; _PROMPT2 = '... '", "-i" },
    { stdin = "local a =\n1\n" })
  expect_code(r, 0)
  expect_find(r.out, "\nsmia> %.%.%. smia> \n$", r, "stdout")
end

function tests.ctrl_c_interrupts_a_running_script()
  -- The script has a background shell send it SIGINT (its pid from /proc/self/stat) every
  -- half second until it is gone, and spins; the host must stop it with "interrupted!" and
  -- exit 1. (Repeated, since system() ignores SIGINT while it waits.) The loop is bounded
  -- so a failure cannot hang the suite.
  local script = temp_file([[
local f = assert(io.open("/proc/self/stat"))
local pid = f:read("n")
f:close()
os.execute("(for i in 1 2 3 4 5 6; do sleep 0.5; kill -INT " .. pid .. " || exit 0; done) >/dev/null 2>&1 &")
local deadline = os.time() + 20
while os.time() < deadline do end
print("not interrupted")
]], ".lua")
  local r = run({ script })
  expect_code(r, 1)
  expect_find(r.err, "interrupted!", r, "stderr")
  expect_find(r.err, "stack traceback:", r, "stderr")
  expect_eq(r.out, "", r, "stdout")
end

-- Each test removes its temporary files, whether it passes or not.
for name, test in pairs(tests) do
  tests[name] = function()
    local ok, message = pcall(test)
    cleanup()
    if not ok then error(message, 0) end
  end
end

return tests
