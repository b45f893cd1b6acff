-- Model cards: a short Markdown file beside each trained model in models/, saying what it is,
-- how it was trained (data, seed, the command) and its clean metrics on held-out data.
--
--   card.write("models/fundus.md", {title =, architecture =, data =, training =, command =,
--              metrics = {{"accuracy (test, 1000 images)", 0.91}, ...}, notes = {...}})
local card = {}

local function format_value(v)
  if math.type(v) == "integer" then return tostring(v) end
  if type(v) == "number" then return ("%.4f"):format(v) end
  return tostring(v)
end

-- Writes `text` to `path` through a temporary file and a rename, so a reader never sees half.
function card.write_atomically(path, text)
  local temporary = path .. ".tmp"
  local f = assert(io.open(temporary, "wb"))
  f:write(text)
  f:close()
  assert(os.rename(temporary, path))
end

function card.write(path, c)
  local lines = {("# %s"):format(c.title), ""}
  local function field(name, value)
    if value then lines[#lines + 1] = ("- **%s**: %s"):format(name, value) end
  end
  field("Architecture", c.architecture)
  field("Data", c.data)
  field("Training", c.training)
  field("Reproduce", c.command and ("`%s`"):format(c.command))
  field("Weights", c.weights)
  lines[#lines + 1] = ""
  lines[#lines + 1] = "| clean metric on held-out data | value |"
  lines[#lines + 1] = "| --- | ---: |"
  for _, m in ipairs(c.metrics or {}) do
    lines[#lines + 1] = ("| %s | %s |"):format(m[1], format_value(m[2]))
  end
  for _, note in ipairs(c.notes or {}) do
    lines[#lines + 1] = ""
    lines[#lines + 1] = note
  end
  card.write_atomically(path, table.concat(lines, "\n") .. "\n")
end

return card
