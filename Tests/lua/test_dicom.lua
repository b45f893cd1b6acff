-- DICOM through GDCM: smia.io.read_array, smia.image.read and the file datasets, compared with
-- pydicom's readings of pydicom's own test files (Tests/Data/dicom, README.md there), and the
-- errors of malformed files, fuzzed in a child process so that a crash would be seen.
local T = smia.tensor
local here = (debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".")
local H = dofile(here .. "/helpers.lua")
local data = here .. "/../Data/dicom/"

local tests = {}

local read_bytes = H.read_file

local write_file = H.write_file

local function copy(from, to) return write_file(to, read_bytes(from)) end

--- Largest absolute difference between two tensors of the same shape.
local function max_diff(a, b, what)
  H.same(a:shape(), b:shape(), what .. " shape")
  return (a - b):abs():max():item()
end

-- Every file pydicom reads, with how far our values may be from pydicom's. Lossless data must
-- match exactly. Lossy data may differ by a few grey levels, as JPEG decoders do: libjpeg's
-- integer IDCT and chroma upsampling in GDCM against libjpeg-turbo/libjpeg 9 in pylibjpeg
-- (measured here: 0 for YBR_FULL, 2 for YBR_FULL_422 with subsampled chroma, 1 for 12-bit
-- JPEG extended; JPEG 2000 and JPEG-LS near-lossless are decoded identically by both).
local expected = {
  -- uncompressed
  {"CT_small", 0}, {"MR_small", 0}, {"MR_small_bigendian", 0}, {"MR_small_implicit", 0},
  {"image_dfl", 0}, {"rtdose", 0}, {"liver_1frame", 0},
  {"SC_ybr_full_422_uncompressed", 0},
  -- lossless compression
  {"MR_small_RLE", 0}, {"SC_rgb_rle_2frame", 0}, {"MR_small_jp2klossless", 0},
  {"MR_small_jpeg_ls_lossless", 0}, {"SC_rgb_jpeg_gdcm", 0},
  -- lossy compression
  {"693_J2KI", 2}, {"SC_rgb_jpeg_dcmtk", 3}, {"SC_rgb_dcmtk_+eb+cy+np", 3}, {"JPGExtended", 2},
  {"JPEGLSNearLossless_16", 2},
}

function tests.read_array_matches_pydicom()
  for _, e in ipairs(expected) do
    local name, tolerance = e[1], e[2]
    local got = smia.io.read_array(data .. name .. ".dcm")
    local want = smia.io.read_array(data .. name .. ".npy")
    local worst = max_diff(got, want, name)
    if worst > tolerance then
      error(("%s: values differ from pydicom's by up to %g (allowed %g)"):format(name, worst, tolerance))
    end
  end
end

function tests.read_array_shapes_and_rescale()
  -- CT: int16 stored, Rescale Intercept -1024: Hounsfield units, (frames, rows, columns).
  local ct = smia.io.read_array(data .. "CT_small.dcm")
  H.same(ct:shape(), {1, 128, 128}, "CT shape")
  -- pydicom's stored values of this file span 128...2191: with the intercept, -896...1167 HU.
  H.eq(ct:min():item(), -896, "lowest HU")
  H.eq(ct:max():item(), 1167, "highest HU")
  H.same(smia.io.read_array(data .. "rtdose.dcm"):shape(), {15, 10, 10}, "multi-frame shape")
  H.same(smia.io.read_array(data .. "SC_rgb_rle_2frame.dcm"):shape(), {2, 100, 100, 3}, "colour shape")
  -- A DICOM file without the .dcm name is recognised by its "DICM" signature.
  local dir = H.tmpdir()
  local plain = copy(data .. "MR_small.dcm", dir .. "/IM0001")
  H.eq(max_diff(smia.io.read_array(plain), smia.io.read_array(data .. "MR_small.npy"), "IM0001"), 0, "IM0001")
  H.rmdir(dir)
end

function tests.image_read_windows()
  -- The file's own window (MR_small: centre 600, width 1600), as pydicom's values through it.
  local mr = smia.image.read(data .. "MR_small.dcm")
  H.same(mr:shape(), {1, 64, 64}, "MR image shape")
  -- Float32 windowing against float64 in numpy: a few units in the last place.
  assert(max_diff(mr, smia.io.read_array(data .. "MR_small.window.npy"), "MR window") < 1e-6)
  -- An explicit window on a CT without one (soft tissue: 40, 400).
  local soft = smia.image.read(data .. "CT_small.dcm", {window = {center = 40, width = 400}})
  assert(max_diff(soft, smia.io.read_array(data .. "CT_small.window.npy"), "CT window") < 1e-6)
  H.eq(max_diff(smia.image.read(data .. "CT_small.dcm", {window = {40, 400}}), soft, "positional"), 0, "{40, 400}")
  -- Without a window in the file: the range of its 16 signed bits, rescaled (-33792...31743).
  local ct = smia.io.read_array(data .. "CT_small.dcm")[1]:reshape{1, 128, 128}
  local range = smia.image.read(data .. "CT_small.dcm")
  assert(max_diff(range, (ct + 33792) / 65535, "range") < 1e-6)
  H.eq(max_diff(smia.image.read(data .. "CT_small.dcm", {window = "range"}), range, "range"), 0, "window = 'range'")
  -- minmax: the image's own extremes become 0 and 1.
  local mm = smia.image.read(data .. "CT_small.dcm", {window = "minmax"})
  H.eq(mm:min():item(), 0, "minmax low")
  H.eq(mm:max():item(), 1, "minmax high")
  assert(max_diff(mm, (ct - ct:min()) / (ct:max() - ct:min()), "minmax") < 1e-6)
  -- 8-bit colour: values / 255, channels first.
  local rgb = smia.image.read(data .. "SC_rgb_jpeg_gdcm.dcm")
  local want = smia.io.read_array(data .. "SC_rgb_jpeg_gdcm.npy")[1]:permute{3, 1, 2} / 255
  assert(max_diff(rgb, want, "RGB") < 1e-6)
end

function tests.image_read_frames_and_monochrome1()
  H.raises(function() smia.image.read(data .. "SC_rgb_rle_2frame.dcm") end, "2 frames", "frame = 1...2")
  local second = smia.image.read(data .. "SC_rgb_rle_2frame.dcm", {frame = 2})
  local want = smia.io.read_array(data .. "SC_rgb_rle_2frame.npy")[2]:permute{3, 1, 2} / 255
  assert(max_diff(second, want, "frame 2") < 1e-6)
  H.raises(function() smia.image.read(data .. "SC_rgb_rle_2frame.dcm", {frame = 3}) end, "frame 3 out of range")
  H.raises(function() smia.image.read(data .. "SC_rgb_rle_2frame.dcm", {frame = 0}) end, "frames count from 1")
  -- MONOCHROME1 (low values bright): the same pixels as MONOCHROME2, inverted.
  local dir = H.tmpdir()
  local bytes = read_bytes(data .. "MR_small.dcm")
  local mono1, n = bytes:gsub("MONOCHROME2", "MONOCHROME1")
  H.eq(n, 1, "one Photometric Interpretation")
  local inverted = smia.image.read(write_file(dir .. "/mono1.dcm", mono1))
  assert(max_diff(inverted, 1 - smia.image.read(data .. "MR_small.dcm"), "MONOCHROME1") < 1e-6)
  H.rmdir(dir)
end

function tests.bad_options()
  local ct = data .. "CT_small.dcm"
  H.raises(function() smia.image.read(ct, {window = "file"}) end, "gives no window")
  H.raises(function() smia.image.read(ct, {window = "auto"}) end, "option 'window'", "'auto'")
  H.raises(function() smia.image.read(ct, {window = {center = 40}}) end, "'width' must be a number")
  H.raises(function() smia.image.read(ct, {window = {center = 40, width = 0}}) end, "'width' must be positive")
  H.raises(function() smia.image.read(ct, {window = 3}) end, "option 'window'")
  H.raises(function() smia.image.read(ct, {mask = true}) end, "png")
  H.raises(function() smia.image.read(ct, {mask = true, window = "range"}) end, "mask = true")
  -- A PNG does not take DICOM's options.
  local dir = H.tmpdir()
  local png = dir .. "/x.png"
  smia.image.write(png, T.zeros{1, 4, 4})
  H.raises(function() smia.image.read(png, {window = "range"}) end, "apply to DICOM files")
  H.rmdir(dir)
end

function tests.refused_files()
  local function refused(name, ...)
    H.raises(function() smia.io.read_array(data .. name) end, "read_array: dicom: ", name, ...)
    H.raises(function() smia.image.read(data .. name) end, "read: dicom: ", ...)
  end
  refused("MR_truncated.dcm", "truncated")
  refused("JPEG2000-embedded-sequence-delimiter.dcm", "JPEG 2000 code stream", "corrupt")
  refused("rtplan.dcm", "no pixel data", "RT Plan")
  refused("SC_rgb_rle_16bit.dcm", "decoded wrongly by GDCM")
  refused("rtdose_1frame.dcm", "GDCM stopped on an internal check")
  local dir = H.tmpdir()
  H.raises(function() smia.io.read_array(dir .. "/missing.dcm") end, "cannot open", "No such file")
  H.raises(function() smia.io.read_array(write_file(dir .. "/empty.dcm", "")) end, "the file is empty")
  H.raises(function() smia.io.read_array(write_file(dir .. "/text.dcm", ("not DICOM\n"):rep(50))) end, "not a readable DICOM file")
  H.raises(function() smia.image.read(write_file(dir .. "/noext", ("x"):rep(200))) end, "cannot tell the format")
  H.rmdir(dir)
end

-- Rows and Columns patched to 65535 (8 GiB of 16-bit pixels) in small files: refused before the
-- image's size is allocated, whatever part of the reader notices first.
function tests.sizes_are_checked_before_allocation()
  local dir = H.tmpdir()
  local function patched(name)
    local bytes = read_bytes(data .. name)
    local n
    for _, tag in ipairs{"\x10\x00", "\x11\x00"} do
      -- (0028,0010) Rows and (0028,0011) Columns, explicit VR little endian: US, 2 bytes
      -- (0x28 is "(", escaped in the pattern).
      bytes, n = bytes:gsub("%(\x00" .. tag .. "US\x02\x00..", "(\x00" .. tag .. "US\x02\x00\xff\xff", 1)
      H.eq(n, 1, name .. " attribute")
    end
    return write_file(dir .. "/" .. name, bytes)
  end
  -- JPEG-LS: 4 kB of compressed data cannot hold 8 GiB.
  H.raises(function() smia.io.read_array(patched("MR_small_jpeg_ls_lossless.dcm")) end, "cannot hold 65535x65535")
  -- RLE: GDCM sizes its buffer from the attributes while parsing, past the cap the file's size sets.
  H.raises(function() smia.io.read_array(patched("SC_rgb_rle_2frame.dcm")) end, "more memory than its size allows")
  -- Uncompressed: the pixel data is far shorter than the image.
  H.raises(function() smia.io.read_array(patched("CT_small.dcm")) end, "truncated")
  -- Lossless JPEG: GDCM takes the size from the JPEG stream, which is right.
  H.same(smia.io.read_array(patched("SC_rgb_jpeg_gdcm.dcm")):shape(), {1, 100, 100, 3}, "JPEG's own size")
  H.rmdir(dir)
end

function tests.datasets_read_dicom_folders()
  local dir = H.tmpdir()
  assert(os.execute('mkdir -p "' .. dir .. '/ct" "' .. dir .. '/mr"'))
  copy(data .. "CT_small.dcm", dir .. "/ct/a.dcm")
  copy(data .. "MR_small.dcm", dir .. "/mr/b.dcm")
  copy(data .. "MR_small_RLE.dcm", dir .. "/mr/c.DCM")
  local ds = smia.data.folder{dir}
  H.eq(#ds, 3, "samples")
  H.same(ds.classes, {"ct", "mr"}, "classes")
  local x, y = ds:get(1)
  H.eq(y, 0, "label")
  H.eq(max_diff(x, smia.image.read(data .. "CT_small.dcm"), "folder image"), 0, "default window")
  -- One window for every file: the same Hounsfield units give the same values.
  local windowed = smia.data.folder{dir, window = {center = 40, width = 400}}
  H.eq(max_diff(windowed:get(1), smia.image.read(data .. "CT_small.dcm", {window = {40, 400}}), "window"), 0, "window")
  -- Images of different sizes cannot share a batch; files of one size can.
  H.eq(windowed:batch{2, 3}.x:shape()[1], 2, "batch of DICOM images")
  -- CSV lists with any file name, masks as label PNGs beside DICOM images.
  write_file(dir .. "/list.csv", "file,label\nct/a.dcm,1\nmr/b.dcm,0\n")
  local listed = smia.data.csv{dir .. "/list.csv", window = "minmax"}
  H.eq(listed:get(1):max():item(), 1, "minmax through csv")
  assert(os.execute('mkdir -p "' .. dir .. '/images" "' .. dir .. '/masks"'))
  copy(data .. "MR_small.dcm", dir .. "/images/m.dcm")
  smia.image.write(dir .. "/masks/m.png", T.zeros{64, 64}, {mask = true})
  local seg = smia.data.masks{images = dir .. "/images", masks = dir .. "/masks", classes = 2}
  local image, mask = seg:get(1)
  H.same(image:shape(), {1, 64, 64}, "segmentation image")
  H.same(mask:shape(), {64, 64}, "segmentation mask")
  H.raises(function() smia.data.folder{dir, window = "wide"} end, "option 'window'")
  H.rmdir(dir)
end

-- Truncated files, corrupt lengths and flipped bytes of every test file, read in a loop by a
-- child process:
-- each must give a Lua error or an image, and the child must finish (a crash would show as
-- its exit status). Deterministic: the mutations come from a fixed linear congruential series.
function tests.malformed_files_fuzzed_in_a_child()
  local dir = H.tmpdir()
  local script = write_file(dir .. "/fuzz.lua", [=[
local data, dir, rounds = ...
local names = {}
for name in io.popen('ls "' .. data .. '"'):lines() do
  if name:match("%.dcm$") then names[#names + 1] = name end
end
table.sort(names)
local state = 12345
local function random(n)
  state = (state * 1103515245 + 12345) % 2147483648
  return state % n
end
local read, failed = 0, 0
for _, name in ipairs(names) do
  local f = assert(io.open(data .. name, "rb"))
  local bytes = f:read("a")
  f:close()
  for round = 1, rounds do
    local mutated
    if round % 3 == 1 then
      mutated = bytes:sub(1, random(#bytes))
    elseif round % 3 == 2 then
      -- A corrupt length (or size): four bytes of 0xFFFFFFF0 somewhere.
      local at = random(#bytes - 4)
      mutated = bytes:sub(1, at) .. "\xf0\xff\xff\xff" .. bytes:sub(at + 5)
    else
      local b = {bytes:byte(1, -1)}
      for _ = 1, 1 + random(8) do
        local at = 1 + random(#b)
        b[at] = b[at] ~ (1 << random(8))
      end
      mutated = string.char(table.unpack(b))
    end
    local path = dir .. "/case.dcm"
    local out = assert(io.open(path, "wb"))
    out:write(mutated)
    out:close()
    local ok, err = pcall(smia.io.read_array, path)
    if ok then read = read + 1 else
      assert(tostring(err):find("dicom: ", 1, true), "unexpected error: " .. tostring(err))
      failed = failed + 1
    end
    ok, err = pcall(smia.image.read, path, {frame = 1})
    if not ok then assert(tostring(err):find("dicom: ", 1, true), "unexpected error: " .. tostring(err)) end
  end
end
print(("fuzz: %d read, %d refused"):format(read, failed))
]=])
  local rounds = 30
  local command = ("%s %s %s %s %d 2>&1"):format(H.quote(H.host()), H.quote(script), H.quote(data), H.quote(dir), rounds)
  local pipe = assert(io.popen(command))
  local output = pipe:read("a")
  local ok, how, code = pipe:close()
  H.rmdir(dir)
  if not ok then
    error(("the fuzzing child stopped (%s %s):\n%s"):format(tostring(how), tostring(code), output))
  end
  local read, failed = output:match("fuzz: (%d+) read, (%d+) refused")
  assert(read, "no summary from the child:\n" .. output)
  assert(tonumber(failed) > 0 and tonumber(read) > 0, output)
end

return tests
