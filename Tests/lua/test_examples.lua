-- The example scripts run as a user runs them, from the package root.
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local host, quote, root = H.host, H.quote, H.root

local tests = {}

function tests.own_data_attacks_a_folder_of_pngs_with_pytorch_weights()
  local pipe = assert(io.popen(("cd %s && %s scripts/examples/own_data.lua 2>&1 </dev/null; echo \"status $?\"")
    :format(quote(root), quote(host())), "r"))
  local out = pipe:read("a")
  pipe:close()
  assert(out:find("status 0", 1, true), out)
  for _, method in ipairs{"clean", "pgd", "smia"} do
    assert(out:find("| " .. method .. " |", 1, true), method .. " row missing:\n" .. out)
  end
end

return tests
