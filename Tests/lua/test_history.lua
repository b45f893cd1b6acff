-- The REPL's history file when sessions run side by side: each session's entries are merged
-- into the file, not overwritten by the session that saves last. The sessions run on a
-- terminal of their own (util-linux `script`), as the history exists only there.
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local tests = {}

function tests.sessions_side_by_side_merge_their_histories()
  local dir = H.tmpdir()
  local host = H.host()
  if host:find("/") and host:sub(1, 1) ~= "/" then
    local pwd = io.popen("pwd")
    host = pwd:read("l") .. "/" .. host
    pwd:close()
  end
  -- Session A starts (and reads the history), session B runs whole, then A enters its line.
  -- Before the merge, A's save wrote only what A had seen: B's line was lost.
  local shell = ([[
set -e
cd %s
export SMIA_HISTORY="$PWD/history"
printf 'old = 0\n' | script -qfec %s /dev/null > start.out 2>&1
mkfifo a.in
script -qfec %s /dev/null < a.in > a.out 2>&1 &
exec 3> a.in
until grep -q '> ' a.out; do sleep 0.1; done
printf 'from_b = 1\n' | script -qfec %s /dev/null > b.out 2>&1
printf 'from_a = 2\n' >&3
exec 3>&-
wait
cat history
]]):format(H.quote(dir), H.quote(host), H.quote(host), H.quote(host))
  local script = dir .. "/sessions.sh"
  local f = assert(io.open(script, "w"))
  f:write(shell)
  f:close()
  local pipe = assert(io.popen("sh " .. H.quote(script) .. " 2>&1"))
  local history = pipe:read("a")
  pipe:close()
  H.rmdir(dir)
  for _, line in ipairs{"old\\040=\\0400", "from_b\\040=\\0401", "from_a\\040=\\0402"} do
    assert(history:find(line, 1, true), ("the history lacks %s:\n%s"):format(line, history))
  end
  assert(history:find("from_b", 1, true) < history:find("from_a", 1, true), "entries in the order they were entered:\n" .. history)
end

return tests
