-- Writes a sample sheet of each generated benchmark: docs/fundus.png (grade bars),
-- docs/ct_lung.png (lung masks laid over), docs/endoscopy.png (artefact boxes).
--
--   smia-lua scripts/examples/sample_sheets.lua [OUT_DIR]   (default: docs)
local out = arg and arg[1] or "docs"
for _, name in ipairs{"fundus", "ct_lung", "endoscopy"} do
  local ds = smia.data.benchmark{name = name, split = "train", n = 16, size = 64}
  local batch = ds:batches{size = 16}()
  local sheet = smia.image.sheet{
    images = batch.x,
    labels = ds.task == "classification" and batch.y or nil,
    masks = ds.task == "segmentation" and batch.y or nil,
    boxes = ds.task == "detection" and batch.y or nil,
    columns = 8, padding = 2, scale = 2,
  }
  local path = out .. "/" .. name .. ".png"
  smia.image.write(path, sheet)
  print(("%s: %d %s samples, classes %s -> %s"):format(name, ds:size(), ds.task, table.concat(ds.classes, ", "), path))
end
