-- Sizes, counts and files that once crashed or hung the host: each is now a Lua error naming
-- the size asked for. Every case runs in a child host under a 4 GiB address-space cap
-- (ulimit -v) and a memory budget of 64 MiB (SMIA_MAX_BYTES), so a regression shows as a failed
-- test with the child's exit status, not as a crash of the test runner.
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local tests = {}

--- Runs `code` in a child host; returns its exit status and its output (stdout and stderr).
local function child(code, budget)
  local dir = H.tmpdir()
  local script = dir .. "/case.lua"
  local f = assert(io.open(script, "wb"))
  f:write(code)
  f:close()
  local host = H.host()
  if host:find("/") and host:sub(1, 1) ~= "/" then  -- relative to here, and the child runs elsewhere
    local pwd = io.popen("pwd")
    host = pwd:read("l") .. "/" .. host
    pwd:close()
  end
  local command = ("ulimit -v 4194304; cd %s && SWIFT_BACKTRACE=enable=no SMIA_MAX_BYTES=%s %s %s 2>&1; echo \"status $?\"")
    :format(H.quote(dir), budget or "64M", H.quote(host), H.quote(script))
  local pipe = assert(io.popen(command))
  local output = pipe:read("a")
  pipe:close()
  H.rmdir(dir)
  local status = tonumber(output:match("status (%d+)%s*$"))
  return status, output
end

--- `code` must raise an error containing every one of `...` (checked in the child), and the
--- child must exit normally.
local function errors(code, ...)
  local checks = {}
  for _, expected in ipairs{...} do
    checks[#checks + 1] = ("assert(message:find(%q, 1, true), %q .. message)"):format(expected, "missing " .. expected .. " in: ")
  end
  local status, output = child(([[
local ok, message = pcall(function() %s end)
assert(not ok, "expected an error, the call succeeded")
message = tostring(message)
%s
print("ERROR " .. message)
]]):format(code, table.concat(checks, "\n")))
  assert(status == 0, ("the child exited with status %s:\n%s"):format(tostring(status), output))
end

function tests.huge_sizes_from_scripts_are_errors()
  errors("smia.nn.BatchNorm2d{math.maxinteger}", "needs more than", "memory budget of 64.0 MiB")
  errors("smia.nn.gaussian_kernel(math.maxinteger, 1e9)", "memory budget")
  errors("smia.tensor.zeros{2^31}", "tensor: size 2147483648 is too large: it needs 8.0 GiB", "memory budget of 64.0 MiB", "SMIA_MAX_BYTES")
  errors("smia.tensor.arange(2^31)", "needs 8.0 GiB")
  errors("smia.tensor.arange(0, 1e300, 1)", "arange")
  errors("return smia.tensor.ones{100000, 1} + smia.tensor.ones{1, 100000}", "size 100000x100000 is too large: it needs 37.3 GiB")
  errors("smia.tensor.ones{2}:reshape{-1, 2^40, 2^40}", "reshape")
  errors("smia.tensor.zeros{2^40, 2^40, 2^40}", "needs more than")
end

-- Sizes whose sum or product overflowed Int before it was compared with the tensor's (a trap).
function tests.huge_offsets_lengths_and_paddings_are_errors()
  local status, output
  errors("smia.tensor.zeros{2, 3, 5, 6}:narrow(3, 4, math.maxinteger)", "does not fit dimension 3 of size 5")
  errors("smia.tensor.zeros{2, 3, 5, 6}:pad{math.maxinteger, 4}", "pad: padding", "is too large")
  errors("smia.tensor.zeros{2, 3}:pad{math.maxinteger, math.maxinteger}", "is too large")
  errors("smia.nn.adaptive_avg_pool2d(smia.tensor.zeros{1, 3, 5, 6}, 2^40)", "memory budget")
  errors("smia.nn.max_pool2d(smia.tensor.zeros{1, 1, 5, 6}, {kernel_size = math.maxinteger, padding = math.maxinteger})",
         "padding must be at most half the kernel size")
  errors("smia.nn.max_pool2d(smia.tensor.zeros{1, 1, 5, 6}, {kernel_size = math.maxinteger, padding = math.maxinteger // 4})",
         "is larger than the padded input")
  errors("smia.nn.interpolate(smia.tensor.zeros{2, 3, 8, 8}, {size = math.maxinteger})", "memory budget")
  errors("smia.data.npz{path = 'x.npz', classes = 2^40}", "at most 2^24")
  -- Options shown in Lua source form (the attack's description) at sizes past Int64.
  for _, code in ipairs{"smia.attack.dag{gamma = math.maxinteger, steps = 0}", "smia.attack.bim{eps = 2^31, step = math.mininteger}",
                        "smia.attack.cw{c = math.mininteger, kappa = -1/0}"} do
    errors(code, "must be")
  end
  -- A one-letter file name in the current folder (Foundation's path splitting trapped on it).
  status, output = child([[
assert(smia.report.html({}, "x") == "x")
assert(io.open("x"):read("a"):find("<html", 1, true))
print("OK")]])
  assert(status == 0 and output:find("OK"), output)
  -- A stride past every size: one window per axis, no overflow in the ceil-mode arithmetic.
  status, output = child([[
local y = smia.nn.max_pool2d(smia.tensor.zeros{1, 1, 5, 6}, {kernel_size = 3, stride = math.maxinteger, ceil_mode = true})
assert(y:size()[3] == 1 and y:size()[4] == 1, "expected 1x1 windows")
print("OK")]])
  assert(status == 0 and output:find("OK"), output)
end

--- Writes `bytes` to a new file in the child's folder (a Lua snippet for the child).
local function write(name, bytes)
  return ("local f = assert(io.open(%q, 'wb')); f:write(%q); f:close()"):format(name, bytes)
end

function tests.huge_labels_in_csv_files_are_errors()
  errors([[
smia.image.write("a.png", smia.tensor.zeros{1, 4, 4})
local f = assert(io.open("labels.csv", "w")); f:write("a.png,2147483648\n"); f:close()
smia.data.csv{path = "labels.csv"}]], "labels.csv:1: label 2147483648 is too large")
  errors([[
smia.image.write("a.png", smia.tensor.zeros{1, 4, 4})
local f = assert(io.open("boxes.csv", "w")); f:write("a.png,0,0,2,2,99999999999\n"); f:close()
smia.data.boxes{path = "boxes.csv"}]], "boxes.csv:1: label 99999999999 is too large")
end

--- The gzip of `size` zero bytes after `header`, made by the system's gzip (a few hundred KiB
--- for 256 MiB), as a Lua snippet writing it to `name`.
local function gzip_bomb(name, header, size)
  return ([[
local header = %q
local f = assert(io.popen("gzip -1 -n > %s", "w"))
f:write(header)
local zeros = string.rep("\0", 1 << 20)
for _ = 1, %d do f:write(zeros) end
f:close()
]]):format(header, name, size >> 20)
end

function tests.files_that_inflate_past_the_budget_are_errors()
  -- IDX: 1 image of 16384x16384 bytes (256 MiB, 1 GiB as float32), refused from its header.
  errors(gzip_bomb("bomb-idx3-ubyte.gz", string.pack(">I4I4I4I4", 0x0803, 1, 16384, 16384), 256 << 20)
    .. 'smia.io.read_array("bomb-idx3-ubyte.gz")', "idx", "1x16384x16384 is too large")
  -- NIfTI: a 348-byte header for 16384x16384x1 uint8 voxels at byte 352, likewise.
  local nifti = string.pack("<i4", 348) .. string.rep("\0", 36)
    .. string.pack("<i2i2i2i2i2i2i2i2", 3, 16384, 16384, 1, 1, 1, 1, 1)
    .. string.rep("\0", 14) .. string.pack("<i2i2", 2, 8) .. string.rep("\0", 34)
    .. string.pack("<f", 352) .. string.pack("<ff", 1, 0)
  nifti = nifti .. string.rep("\0", 344 - #nifti) .. "n+1\0" .. "\0\0\0\0"
  errors(gzip_bomb("bomb.nii.gz", nifti, 256 << 20) .. 'smia.io.read_array("bomb.nii.gz")', "nifti", "too large")
  -- NPZ: a member whose directory entry says 256 MiB, deflated to a few hundred KiB: the
  -- stream is refused as it passes the budget.
  errors(gzip_bomb("zeros.gz", "", 256 << 20) .. [[
local gz = assert(io.open("zeros.gz", "rb")):read("a")
local deflated = gz:sub(11, -9)  -- gzip -n: a 10-byte header, an 8-byte trailer (CRC-32, size)
local crc, size = string.unpack("<I4I4", gz, #gz - 7)
local name = "x.npy"
local head = string.pack("<I4I2I2I2I2I2I4I4I4I2I2", 0x04034b50, 20, 0, 8, 0, 0, crc, #deflated, size, #name, 0) .. name
local central = string.pack("<I4I2I2I2I2I2I2I4I4I4I2I2I2I2I2I4I4", 0x02014b50, 20, 20, 0, 8, 0, 0, crc, #deflated, size,
  #name, 0, 0, 0, 0, 0, 0) .. name
local f = assert(io.open("bomb.npz", "wb"))
f:write(head, deflated, central, string.pack("<I4I2I2I2I2I4I4I2", 0x06054b50, 0, 0, 1, 1, #central, #head + #deflated, 0))
f:close()
smia.io.load("bomb.npz")]], "npz", "decompresses to more than the memory budget of 64.0 MiB")
end

--- A zip archive (as NumPy writes .npz) of one stored member, whose local header may name
--- another file than its central directory entry.
local function zip(central_name, local_name, data)
  local crc = 0  -- checked only after the names, which is what the test is about
  local localHeader = string.pack("<I4I2I2I2I2I2I4I4I4I2I2", 0x04034b50, 20, 0, 0, 0, 0, crc, #data, #data, #local_name, 0)
    .. local_name .. data
  local central = string.pack("<I4I2I2I2I2I2I2I4I4I4I2I2I2I2I2I4I4", 0x02014b50, 20, 20, 0, 0, 0, 0, crc, #data, #data,
    #central_name, 0, 0, 0, 0, 0, 0) .. central_name
  local ending = string.pack("<I4I2I2I2I2I4I4I2", 0x06054b50, 0, 0, 1, 1, #central, #localHeader, 0)
  return localHeader .. central .. ending
end

function tests.zip_member_names_must_agree()
  errors(write("a.npz", zip("x.npy", "evil.npy", "data")) .. 'smia.io.load("a.npz")',
    "member 'x.npy': its local header at byte 0 names 'evil.npy'")
end

function tests.nested_attacks_deep_recursion_and_stack_overflow_then_work_goes_on()
  local status, output = child([[
local T, nn, A = smia.tensor, smia.nn, smia.attack
local m = nn.Sequential{nn.Flatten(), nn.Linear{4, 3}}:eval()
local x, y = T.rand({2, 1, 2, 2}, 1), T.from{0, 1}
-- an attack whose Lua loss runs a second attack
A.iterative{steps = 2, loss = function(ctx)
  A.pgd{steps = 1}:run(m, ctx.x, ctx.y)
  return nn.cross_entropy(ctx.output, ctx.y)
end}:run(m, x, y)
-- a 150,000-deep Lua recursion making tensors
local function deep(n) if n == 0 then return T.zeros{1} end return deep(n - 1) + 0 end
local ok, err = pcall(deep, 150000)
assert(ok or tostring(err):find("stack overflow"), tostring(err))
-- a stack overflow inside an attack loss
local function forever(n) return forever(n + 1) + 1 end
ok, err = pcall(function() return A.iterative{steps = 2, loss = function() return forever(1) end}:run(m, x, y) end)
assert(not ok and tostring(err):find("stack overflow"), tostring(err))
local _, stats = A.pgd{steps = 3}:run(m, x, y)
print("done", stats.accuracy)
]])
  assert(status == 0 and output:find("done"), ("status %s:\n%s"):format(tostring(status), output))
end

return tests
