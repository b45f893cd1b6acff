-- Files, images and datasets from Lua: smia.image, smia.io.read_array, .npz in smia.io.load,
-- and every smia.data source, with the errors of bad files and bad calls.
local T = smia.tensor
local here = (debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".")
local H = dofile(here .. "/helpers.lua")
local fixtures = here .. "/../Data/io/"

local tests = {}

local write_file = H.write_file

local function mkdir(path)
  assert(os.execute('mkdir -p "' .. path .. '"'))
  return path
end

--- A little-endian float32 .npy of the given shape and values.
local function npy(path, shape, values)
  local dims = {}
  for i, d in ipairs(shape) do dims[i] = tostring(d) end
  local shape_text = #shape == 1 and "(" .. dims[1] .. ",)" or "(" .. table.concat(dims, ", ") .. ")"
  local header = "{'descr': '<f4', 'fortran_order': False, 'shape': " .. shape_text .. ", }"
  header = header .. string.rep(" ", (64 - (10 + #header + 1) % 64) % 64) .. "\n"
  local data = {}
  for i, v in ipairs(values) do data[i] = string.pack("<f", v) end
  return write_file(path, "\x93NUMPY\1\0" .. string.pack("<I2", #header) .. header .. table.concat(data))
end

--- An uncompressed IDX file of unsigned bytes.
local function idx(path, shape, values)
  local parts = {string.pack(">BBBB", 0, 0, 0x08, #shape)}
  for _, d in ipairs(shape) do parts[#parts + 1] = string.pack(">I4", d) end
  for _, v in ipairs(values) do parts[#parts + 1] = string.char(v) end
  return write_file(path, table.concat(parts))
end

function tests.image_round_trip_gray_rgb_and_2d()
  local dir = H.tmpdir()
  local rgb = T.rand({3, 5, 7}, 1)
  smia.image.write(dir .. "/rgb.png", rgb)
  local back = smia.image.read(dir .. "/rgb.png")
  H.same(back:shape(), {3, 5, 7})
  H.close(back, rgb, 0.5 / 255 + 1e-6)
  -- H×W is written as gray; values are clamped to [0, 1].
  smia.image.write(dir .. "/gray.png", T.from{{-1, 0.5}, {2, 1}})
  local gray = smia.image.read(dir .. "/gray.png")
  H.same(gray:shape(), {1, 2, 2})
  H.close(gray, T.from{{{0, 128 / 255}, {1, 1}}}, 1e-6)
  -- Masks: the stored integers, H×W.
  smia.image.write(dir .. "/mask.png", T.from{{0, 1, 2}, {3, 0, 255}}, {mask = true})
  local mask = smia.image.read(dir .. "/mask.png", {mask = true})
  H.same(mask:shape(), {2, 3})
  H.close(mask, T.from{{0, 1, 2}, {3, 0, 255}}, 0)
  -- No temporary file is left beside the written ones.
  local p = io.popen('ls "' .. dir .. '"')
  local names = p:read("a")
  p:close()
  H.eq(names, "gray.png\nmask.png\nrgb.png\n", "files in the folder")
  H.rmdir(dir)
end

function tests.image_errors_leave_the_host_running()
  local dir = H.tmpdir()
  H.raises(function() smia.image.read() end, "bad argument #1 to 'read' (string expected, got no value)")
  H.raises(function() smia.image.read(dir .. "/none.png") end, "read: png: cannot open", "none.png")
  write_file(dir .. "/text.png", "hello, world")
  H.raises(function() smia.image.read(dir .. "/text.png") end, "text.png", "not a PNG file")
  -- A truncated PNG.
  smia.image.write(dir .. "/ok.png", T.rand({3, 16, 16}, 2))
  local f = assert(io.open(dir .. "/ok.png", "rb"))
  local bytes = f:read("a")
  f:close()
  write_file(dir .. "/cut.png", bytes:sub(1, #bytes // 2))
  H.raises(function() smia.image.read(dir .. "/cut.png") end, "cut.png")
  H.raises(function() smia.image.read(dir .. "/ok.png", {maks = true}) end, "unknown option 'maks'")
  H.raises(function() smia.image.write(dir .. "/x.png", T.zeros{2, 4, 4}) end, "write: png:", "C = 1 or 3")
  H.raises(function() smia.image.write(dir .. "/x.png", "image") end, "bad argument #2 to 'write' (tensor expected, got string)")
  H.raises(function() smia.image.write(dir .. "/x.png", T.full({2, 2}, 0.5), {mask = true}) end, "integers in 0...255")
  H.raises(function() smia.image.write(dir .. "/no/such/dir/x.png", T.zeros{4, 4}) end, "cannot write")
  H.eq(smia.image.read(dir .. "/ok.png"):shape()[1], 3, "still working")
  H.rmdir(dir)
end

function tests.read_array_npy_idx_nifti()
  local dir = H.tmpdir()
  local a = smia.io.read_array(npy(dir .. "/a.npy", {2, 3}, {1, 2, 3, 4, 5, 6.5}))
  H.close(a, T.from{{1, 2, 3}, {4, 5, 6.5}}, 0)
  local images = smia.io.read_array(idx(dir .. "/tiny-images-idx3-ubyte", {2, 1, 3}, {0, 128, 255, 1, 2, 3}))
  H.close(images, T.from{{{0, 128, 255}}, {{1, 2, 3}}}, 0)
  -- Gzipped IDX and NIfTI fixtures (values as make_fixtures.py writes them).
  H.same(smia.io.read_array(fixtures .. "mini-images-idx3-ubyte.gz"):shape(), {3, 4, 5})
  H.close(smia.io.read_array(fixtures .. "mini-labels-idx1-ubyte"), T.from{7, 0, 9}, 0)
  -- int16 volume x=4, y=3, z=2 of (x*6 + y*2 + z)*3 - 20, slope 0.5, intercept -3, read as (Z, Y, X).
  local v = smia.io.read_array(fixtures .. "i2_scaled_le.nii")
  H.same(v:shape(), {2, 3, 4})
  H.eq(v[{1, 1, 1}], -13, "voxel (0, 0, 0)")
  H.eq(v[{2, 3, 4}], 21.5, "voxel (x 3, y 2, z 1)")
  H.close(smia.io.read_array(fixtures .. "i2_scaled_be.nii"), v, 0)
  H.same(smia.io.read_array(fixtures .. "u1_2d.nii.gz"):shape(), {1, 4, 5})
  -- Slices along each dimension and CT windowing.
  local z = smia.image.slices(v)
  H.eq(#z, 2)
  H.same(z[2]:shape(), {3, 4})
  H.close(z[2], v[2], 0)
  H.same(smia.image.slices(v, 3)[1]:shape(), {2, 3})
  H.eq(#smia.image.slices(v, -1), 4)
  local w = smia.image.window(T.from{-1200, -600, -350, 500}, {center = -600, width = 1000})
  H.close(w, T.from{0, 0.5, 0.75, 1}, 1e-6)
  H.raises(function() smia.image.window(v, {center = 0}) end, "option 'width' is required")
  H.raises(function() smia.image.window(v, {center = 0, width = -1}) end, "window:", "width must be a positive number")
  H.raises(function() smia.image.slices(z[1]) end, "bad argument #1 to 'slices'", "(Z, Y, X)")
  H.raises(function() smia.image.slices(v, 4) end, "bad argument #2 to 'slices'", "dimension 4 out of range")
  -- Bad files name themselves.
  H.raises(function() smia.io.read_array(dir .. "/a.txt") end, "read_array: cannot tell the format", "a.txt")
  H.raises(function() smia.io.read_array(fixtures .. "stored.npz") end, "read_array:", ".npz archive", "smia.io.load")
  write_file(dir .. "/short.npy", "\x93NUMPY\1\0")
  H.raises(function() smia.io.read_array(dir .. "/short.npy") end, "read_array: npy:", "short.npy")
  write_file(dir .. "/cut-images-idx3-ubyte", string.pack(">BBBBI4I4I4", 0, 0, 8, 3, 2, 2, 2) .. "abc")
  H.raises(function() smia.io.read_array(dir .. "/cut-images-idx3-ubyte") end, "read_array: idx:", "cut-images-idx3-ubyte")
  write_file(dir .. "/bad.nii", string.rep("\0", 100))
  H.raises(function() smia.io.read_array(dir .. "/bad.nii") end, "read_array: nifti:", "bad.nii")
  H.raises(function() smia.io.read_array(dir .. "/a.npy", 2) end, "bad argument #2 to 'read_array'")
  H.rmdir(dir)
end

function tests.load_npz()
  local arrays, meta = smia.io.load(fixtures .. "stored.npz")
  H.same(arrays.a:shape(), {2, 3})
  H.close(arrays.b, T.from{0, 1, 2, 255}, 0)
  H.eq(next(meta), nil, "npz metadata")
  local m = smia.io.load(fixtures .. "medmnist_like.npz")
  H.same(m.train_images:shape(), {6, 28, 28})
  H.same(m.val_labels:shape(), {2, 1})
  local dir = H.tmpdir()
  write_file(dir .. "/bad.npz", "PK\3\4 not really")
  H.raises(function() smia.io.load(dir .. "/bad.npz") end, "load: npz:", "bad.npz")
  H.rmdir(dir)
end

function tests.benchmark_datasets()
  for _, case in ipairs{{"fundus", "classification", 3, 5}, {"ct_lung", "segmentation", 1, 3}, {"endoscopy", "detection", 3, 5}} do
    local name, task, channels, classes = table.unpack(case)
    local ds = smia.data.benchmark{name = name, split = "val", n = 5, size = 32}
    H.eq(ds.task, task, name .. " task")
    H.eq(ds.channels, channels, name .. " channels")
    H.eq(#ds.classes, classes, name .. " classes")
    H.eq(ds:size(), 5)
    H.eq(#ds, 5)
    local x, y = ds:get(2)
    H.same(x:shape(), {channels, 32, 32}, name .. " image")
    assert(x:min():item() >= 0 and x:max():item() <= 1)
    -- The shortcut gives the same samples; a smaller set is a prefix of a larger one.
    local same = smia.data[name]{split = "val", n = 3, size = 32}
    H.close(same:get(2), x, 0)
    if task == "classification" then
      assert(math.type(y) == "integer" and y >= 0 and y < classes)
    elseif task == "segmentation" then
      H.same(y:shape(), {32, 32})
      assert(y:max():item() < classes)
    else
      assert(type(y) == "table")
      for _, b in ipairs(y) do
        assert(b[1] == b.x1 and b[5] == b.class and b.x1 < b.x2 and b.y1 < b.y2 and b.class < classes)
      end
    end
  end
  H.raises(function() smia.data.benchmark{name = "mri", n = 2} end, "benchmark: unknown benchmark 'mri'")
  H.raises(function() smia.data.benchmark{n = 2} end, "bad argument #1 to 'benchmark'", "option 'name' is required")
  H.raises(function() smia.data.fundus{split = "dev", n = 2} end, "fundus:", "'dev'")
  H.raises(function() smia.data.fundus{n = 0} end, "option 'n'", "positive")
  H.raises(function() smia.data.fundus{n = 2, size = 8} end, "size must be in 16...1024")
  H.raises(function() smia.data.fundus{n = 2, colour = true} end, "unknown option 'colour'")
end

function tests.batches_cover_every_sample_once()
  local ds = smia.data.fundus{split = "test", n = 10, size = 16}
  local seen, sizes = {}, {}
  for b in ds:batches{size = 4} do
    sizes[#sizes + 1] = b.x:shape()[1]
    H.same(b.x:shape(), {#b.indices, 3, 16, 16})
    H.same(b.y:shape(), {#b.indices})
    for k, i in ipairs(b.indices) do
      seen[#seen + 1] = i
      H.close(b.x[k], ds:get(i), 0)
      H.eq(b.y[k], select(2, ds:get(i)))
    end
  end
  H.same(sizes, {4, 4, 2})
  H.same(seen, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
  -- Shuffled: a permutation fixed by the seed; drop_last leaves out the short batch.
  local function order(opts)
    local out = {}
    for b in ds:batches(opts) do for _, i in ipairs(b.indices) do out[#out + 1] = i end end
    return out
  end
  local a = order{size = 3, shuffle = true, seed = 5}
  H.same(order{size = 3, shuffle = true, seed = 5}, a)
  H.eq(#a, 10)
  local sorted = {table.unpack(a)}
  table.sort(sorted)
  H.same(sorted, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
  H.eq(#order{size = 3, drop_last = true}, 9)
  -- Segmentation batches carry masks, detection batches lists of boxes.
  local seg = smia.data.ct_lung{n = 3, size = 16}:batch{3, 1}
  H.same(seg.y:shape(), {2, 16, 16})
  H.same(seg.indices, {3, 1})
  local det = smia.data.endoscopy{n = 3, size = 32}:batch{1, 2, 3}
  H.eq(#det.y, 3)
  H.raises(function() ds:get(0) end, "bad argument #1 to 'get'", "index 0 out of range", "1..10")
  H.raises(function() ds:get(11) end, "index 11 out of range")
  H.raises(function() ds:get("1") end, "bad argument #1 to 'get' (number expected, got string)")
  H.raises(function() ds.get(nil, 1) end, "calling 'get' on bad self (dataset expected, got nil)")
  H.raises(function() smia.metrics.accuracy(ds, ds) end, "bad argument #1 to 'accuracy' (tensor expected, got dataset)")
  H.raises(function() ds:batch{} end, "non-empty list")
  H.raises(function() ds:batch{1, 11} end, "position 2 is not a sample position")
  H.raises(function() ds:batches{size = 0} end, "option 'size'", "positive")
  H.raises(function() ds:batches{seed = 1} end, "'seed' given without shuffle = true")
  H.eq(ds.nothing, nil)
  assert(tostring(ds):find("Dataset(fundus: 10 samples", 1, true))
end

function tests.fashion_mnist_test_split()
  local ds = smia.data.fashion_mnist{split = "test", n = 100}
  H.eq(ds:size(), 100)
  H.eq(ds.channels, 1)
  H.eq(#ds.classes, 10)
  H.eq(ds.classes[10], "Ankle boot")
  local b = ds:batches{size = 100}()
  H.same(b.x:shape(), {100, 1, 28, 28})
  assert(b.x:min():item() >= 0 and b.x:max():item() <= 1 and b.x:max():item() > 0.9)
  assert(b.y:min():item() >= 0 and b.y:max():item() <= 9)
  -- Ten classes show up among the first hundred.
  local classes = {}
  for _, v in ipairs(b.y:totable()) do classes[v] = true end
  local n = 0
  for _ in pairs(classes) do n = n + 1 end
  H.eq(n, 10, "distinct labels")
  local dir = H.tmpdir()
  H.raises(function() smia.data.fashion_mnist{root = dir} end, "fashion_mnist: cannot find", "train-images-idx3-ubyte.gz")
  H.raises(function() smia.data.fashion_mnist{split = "val"} end, "split must be 'train' or 'test'")
  -- root= elsewhere, with a label out of range.
  idx(dir .. "/t10k-images-idx3-ubyte", {2, 2, 2}, {0, 255, 0, 255, 1, 2, 3, 4})
  idx(dir .. "/t10k-labels-idx1-ubyte", {2}, {3, 12})
  H.raises(function() smia.data.fashion_mnist{split = "test", root = dir} end, "t10k-labels-idx1-ubyte", "label 12", "0...9")
  idx(dir .. "/t10k-labels-idx1-ubyte", {3}, {3, 1, 2})
  H.raises(function() smia.data.fashion_mnist{split = "test", root = dir} end, "labels of size 3", "2 images")
  idx(dir .. "/t10k-labels-idx1-ubyte", {2}, {3, 1})
  local small = smia.data.fashion_mnist{split = "test", root = dir}
  local x, y = small:get(1)
  H.close(x, T.from{{{0, 1}, {0, 1}}}, 0)
  H.eq(y, 3)
  H.rmdir(dir)
end

function tests.npz_dataset()
  local ds = smia.data.npz{fixtures .. "medmnist_like.npz", n = 4}
  H.eq(ds:size(), 4)
  H.eq(ds.task, "classification")
  local b = ds:batch{1, 2, 3, 4}
  H.same(b.x:shape(), {4, 1, 28, 28})
  assert(b.x:max():item() <= 1)
  local raw = smia.io.load(fixtures .. "medmnist_like.npz")
  H.close(b.x[2][1], raw.train_images[2] / 255, 1e-6)
  H.close(b.y, raw.train_labels:reshape{6}:slice(1, 1, 4), 0)
  local val = smia.data.npz{path = fixtures .. "medmnist_like.npz", images = "val_images", labels = "val_labels", classes = 10}
  H.eq(#val.classes, 10)
  H.eq(val:size(), 2)
  H.raises(function() smia.data.npz{fixtures .. "medmnist_like.npz", images = "test_images"} end, "npz:", "no array 'test_images'")
  H.raises(function() smia.data.npz{fixtures .. "medmnist_like.npz", labels = "val_labels"} end, "'val_labels' is 2x1")
  H.raises(function() smia.data.npz{fixtures .. "medmnist_like.npz", scale = 1} end, "give the right scale")
  H.raises(function() smia.data.npz{fixtures .. "medmnist_like.npz", classes = 2} end, "out of range", "2 classes")
  H.raises(function() smia.data.npz{} end, "option 'path' is required")
  H.raises(function() smia.data.npz{fixtures .. "nothing.npz"} end, "npz: cannot open")
end

function tests.folder_and_csv_datasets()
  local dir = H.tmpdir()
  mkdir(dir .. "/f/normal")
  mkdir(dir .. "/f/abnormal")
  smia.image.write(dir .. "/f/normal/a.png", T.full({3, 8, 8}, 0.2))
  smia.image.write(dir .. "/f/normal/b.png", T.full({3, 8, 8}, 0.4))
  smia.image.write(dir .. "/f/abnormal/c.png", T.full({3, 8, 8}, 1))
  local ds = smia.data.folder{dir .. "/f"}
  H.same(ds.classes, {"abnormal", "normal"})
  H.eq(ds.channels, 3)
  local b = ds:batch{1, 2, 3}
  H.close(b.y, T.from{0, 1, 1}, 0)
  H.close(b.x[1], T.ones{3, 8, 8}, 0)
  H.eq(smia.data.folder{root = dir .. "/f", channels = 1}.channels, 1)

  write_file(dir .. "/list.csv", "file,label\nf/normal/a.png,0\nf/abnormal/c.png,2\n")
  local csv = smia.data.csv{dir .. "/list.csv"}
  H.eq(#csv.classes, 3)
  H.eq(select(2, csv:get(2)), 2)
  write_file(dir .. "/names.csv", "normal/a.png,normal\nabnormal/c.png,abnormal\n")
  local named = smia.data.csv{dir .. "/names.csv", root = dir .. "/f", classes = {"normal", "abnormal"}}
  H.close(named:batch{1, 2}.y, T.from{0, 1}, 0)

  write_file(dir .. "/row.csv", "f/normal/a.png,0\nf/normal/b.png\n")
  H.raises(function() smia.data.csv{dir .. "/row.csv"} end, "csv:", "row.csv:2", "expected 2 fields")
  write_file(dir .. "/gone.csv", "f/normal/zzz.png,0\n")
  H.raises(function() smia.data.csv{dir .. "/gone.csv"} end, "gone.csv:1", "no such file", "zzz.png")
  write_file(dir .. "/range.csv", "f/normal/a.png,4\n")
  H.raises(function() smia.data.csv{dir .. "/range.csv", classes = 3} end, "range.csv:1", "label 4 out of range")
  H.raises(function() smia.data.csv{dir .. "/names.csv", root = dir .. "/f"} end, "label 'normal' is not an integer")
  H.raises(function() smia.data.csv{dir .. "/list.csv", classes = {}} end, "option 'classes'")
  H.raises(function() smia.data.folder{dir .. "/none"} end, "folder:", "not a directory")
  H.raises(function() smia.data.folder{} end, "option 'root' is required")
  H.raises(function() smia.data.folder{dir .. "/f", channels = 2} end, "channels must be 1 or 3")
  -- Images of two sizes: each reads, a batch of both names them.
  smia.image.write(dir .. "/f/normal/b.png", T.full({3, 6, 8}, 0.4))
  H.same(ds:get(3):shape(), {3, 6, 8})
  H.raises(function() ds:batch{2, 3} end, "cannot batch images of different sizes", "a.png' is 3x8x8", "b.png' is 3x6x8")
  -- A gray image in an RGB folder.
  smia.image.write(dir .. "/f/normal/b.png", T.full({1, 8, 8}, 0.4))
  H.raises(function() ds:get(3) end, "b.png' has 1 channel", "channels = 1 or 3")
  H.same(smia.data.folder{dir .. "/f", channels = 3}:get(3):shape(), {3, 8, 8})
  H.rmdir(dir)
end

function tests.mask_and_box_datasets()
  local dir = H.tmpdir()
  mkdir(dir .. "/images")
  mkdir(dir .. "/masks")
  for k = 1, 2 do
    smia.image.write(("%s/images/%d.png"):format(dir, k), T.rand({1, 4, 6}, k))
    local m = T.zeros{4, 6}
    m[{k, k}] = 2
    smia.image.write(("%s/masks/%d.png"):format(dir, k), m, {mask = true})
  end
  local ds = smia.data.masks{images = dir .. "/images", masks = dir .. "/masks"}
  H.eq(ds.task, "segmentation")
  H.eq(#ds.classes, 3)
  local x, m = ds:get(2)
  H.same(m:shape(), {4, 6})
  H.eq(m[{2, 2}], 2)
  local b = ds:batches{size = 2}()
  H.same(b.y:shape(), {2, 4, 6})
  H.close(b.x[1], smia.image.read(dir .. "/images/1.png"), 0)
  -- A label beyond the classes given, a mask of another size, a missing mask.
  local two = smia.data.masks{images = dir .. "/images", masks = dir .. "/masks", classes = {"bg", "fg"}}
  H.raises(function() two:get(1) end, "masks/1.png", "mask value 2")
  smia.image.write(dir .. "/masks/2.png", T.zeros{4, 5}, {mask = true})
  H.raises(function() ds:get(2) end, "masks/2.png' is 4x5", "images/2.png' is 4x6")
  smia.image.write(dir .. "/images/3.png", T.rand({1, 4, 6}, 3))
  H.raises(function() smia.data.masks{images = dir .. "/images", masks = dir .. "/masks"} end, "images/3.png' has no mask")
  H.raises(function() smia.data.masks{images = dir .. "/images"} end, "option 'masks' is required")

  smia.image.write(dir .. "/a.png", T.rand({3, 10, 20}, 4))
  smia.image.write(dir .. "/b.png", T.rand({3, 10, 20}, 5))
  write_file(dir .. "/boxes.csv", "file,x1,y1,x2,y2,class\na.png,1,2,5,6,1\nb.png\na.png,0,0,20,10,0\n")
  local det = smia.data.boxes{dir .. "/boxes.csv"}
  H.eq(det.task, "detection")
  H.eq(#det.classes, 2)
  local _, boxes = det:get(1)
  H.eq(#boxes, 2)
  H.same({boxes[1][1], boxes[1][2], boxes[1][3], boxes[1][4], boxes[1][5]}, {1, 2, 5, 6, 1})
  H.eq(boxes[2].x2, 20)
  H.eq(#select(2, det:get(2)), 0)
  local batch = det:batch{1, 2}
  H.same(batch.x:shape(), {2, 3, 10, 20})
  H.eq(#batch.y[1], 2)
  H.eq(#batch.y[2], 0)
  write_file(dir .. "/bad.csv", "a.png,1,2,5,6\n")
  H.raises(function() smia.data.boxes{dir .. "/bad.csv"} end, "boxes:", "bad.csv:1", "expected 6 fields")
  write_file(dir .. "/big.csv", "a.png,1,2,50,6,0\n")
  H.raises(function() smia.data.boxes{dir .. "/big.csv"}:get(1) end, "big.csv:1", "not inside the 20x10 image")
  write_file(dir .. "/cls.csv", "a.png,1,2,5,6,3\n")
  H.raises(function() smia.data.boxes{dir .. "/cls.csv", classes = 2} end, "cls.csv:1", "label 3 out of range")
  H.rmdir(dir)
end

function tests.sample_sheet()
  local ds = smia.data.endoscopy{n = 4, size = 16}
  local b = ds:batch{1, 2, 3, 4}
  local sheet = smia.image.sheet{images = b.x, boxes = b.y, columns = 2, padding = 1, scale = 2}
  -- 2 columns of 32-pixel tiles and 3 paddings of 1.
  H.same(sheet:shape(), {3, 2 * 32 + 3, 2 * 32 + 3})
  local seg = smia.data.ct_lung{n = 2, size = 16}:batch{1, 2}
  H.same(smia.image.sheet{images = seg.x, masks = seg.y, padding = 0}:shape(), {3, 16, 32})
  local cls = smia.data.fundus{n = 2, size = 16}:batch{1, 2}
  H.eq(smia.image.sheet{images = cls.x, labels = cls.y, padding = 0}:shape()[2], 16 + 2)
  H.raises(function() smia.image.sheet{labels = cls.y} end, "option 'images' is required")
  H.raises(function() smia.image.sheet{images = cls.x, labels = T.zeros{3}} end, "sheet: sample_sheet:", "labels of size 2")
  H.raises(function() smia.image.sheet{images = b.x, boxes = {{{1, 2}}}} end, "option 'boxes'", "box 1 of image 1", "x2")
end

return tests
