-- Lua's collector sees a few bytes per tensor; the bridge counts the native bytes Lua holds,
-- runs young collections as they are handed out and forces a full collection past a threshold,
-- so a loop making a 1 MiB tensor per iteration stays flat.
local T = smia.tensor

local MiB = 1024 * 1024

return {
  loop_of_one_mib_tensors_stays_flat = function()
    collectgarbage("collect")
    local base = smia.memory()
    assert(base > 0, "smia.memory() gives the resident size")
    local peak = base
    for i = 1, 10000 do
      local t = T.full({256, 1024}, i) -- 1 MiB of float32
      if i % 100 == 0 then peak = math.max(peak, (smia.memory())) end
      assert(t:numel() == 256 * 1024)
    end
    local growth = (peak - base) / MiB
    assert(growth < 300, ("resident size grew by %.0f MiB over 10,000 tensors of 1 MiB"):format(growth))
  end,

  results_of_operations_are_counted = function()
    collectgarbage("collect")
    local base = smia.memory()
    local peak = base
    local x = T.ones{64, 1024} -- 256 KiB
    for i = 1, 4000 do
      local y = x * i -- every result is a new native tensor held only by Lua
      if i % 100 == 0 then peak = math.max(peak, (smia.memory())) end
      assert(y:numel() == x:numel())
    end
    local growth = (peak - base) / MiB
    assert(growth < 300, ("resident size grew by %.0f MiB over 1 GB of results"):format(growth))
  end,

  graphs_behind_results_are_counted = function()
    -- Parameters need gradients, so every forward records; the output's history keeps the
    -- activations alive until Lua collects the output.
    local nn = smia.nn
    local m = nn.Sequential{nn.Conv2d{1, 16, 3, padding = 1}, nn.ReLU(), nn.Conv2d{16, 1, 3, padding = 1}}
    local x = T.rand({4, 1, 64, 64}, 1)
    collectgarbage("collect")
    local base = smia.memory()
    local peak = base
    for i = 1, 300 do
      local loss = m(x):sum() -- about 3 MiB of activations each time
      if i % 20 == 0 then peak = math.max(peak, (smia.memory())) end
    end
    local growth = (peak - base) / MiB
    assert(growth < 300, ("resident size grew by %.0f MiB over 300 recorded forward passes"):format(growth))
  end,

  dropped_results_are_freed_before_the_next_call = function()
    -- A young collection as the next native call starts frees the result the loop dropped, so
    -- the bytes Lua holds stay at a few results, far below the full collection's threshold.
    local x = T.rand({2 * MiB}, 1) -- 8 MiB
    collectgarbage("collect")
    local _, _, base = smia.memory()
    local most = 0
    for _ = 1, 40 do
      local y = x * 2
      local _, _, held = smia.memory()
      most = math.max(most, held - base)
      assert(y:numel() == x:numel())
    end
    assert(most <= 4 * 8 * MiB, ("Lua held %.0f MiB of dropped 8 MiB results"):format(most / MiB))
  end,

  held_bytes_are_counted_back_once = function()
    collectgarbage("collect")
    local _, _, base = smia.memory()
    local t = T.zeros{1024, 256} -- 1 MiB
    local _, _, with = smia.memory()
    assert(with - base >= MiB, "a new tensor counts its values")
    local gc = getmetatable(t).__gc
    gc(t)
    gc(t) -- a second release counts nothing back
    t = nil
    collectgarbage("collect")
    local _, _, after = smia.memory()
    assert(after == base, ("held bytes %d before, %d after"):format(base, after))
  end,

  threshold_is_adjustable = function()
    local previous = smia.gc_threshold(64 * MiB)
    assert(previous > 0)
    assert(smia.gc_threshold(previous) == 64 * MiB)
  end,
}
