-- smia.report.html and the main job's out/report.html, rendered by headless Chromium (Debian's
-- `chromium`; `make test` installs it through `make setup-test`): the rendered page has the
-- tables and the figures' labels as text, and its screenshot shows the figures' tiles at their
-- enlarged size. The page is opened from a file: no server, no network.
local T = smia.tensor
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/helpers.lua")

local quote = H.quote

local read = H.read_file

-- Runs headless Chromium on the page `html` (a path) with `mode` ("--dump-dom" or
-- "--screenshot=PATH"); returns its standard output.
local function chromium(html, mode, dir)
  local found = io.popen("command -v chromium"):read("a")
  assert(found ~= "", "chromium is missing: `make setup-test` (run by `make test`) installs Debian's chromium")
  local command = ("chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 "
    .. "--window-size=1400,2400 --user-data-dir=%s %s %s 2>%s"):format(
      quote(dir .. "/profile"), mode, quote("file://" .. html), quote(dir .. "/chromium.log"))
  local pipe = assert(io.popen(command, "r"))
  local out = pipe:read("a")
  local ok = pipe:close()
  assert(ok, "chromium failed: " .. read(dir .. "/chromium.log"))
  return out
end

-- The absolute path of `path` (Chromium needs file:// addresses to be absolute).
local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  return io.popen("pwd"):read("l") .. "/" .. path
end

-- Pixels of a (3, H, W) picture within 0.02 of the colour `rgb`.
local function count_colour(picture, rgb)
  local mask
  for c = 1, 3 do
    local near = ((picture:select(1, c) - rgb[c]):abs()):lt(0.02)
    mask = mask and mask * near or near
  end
  return mask:sum():item()
end

local tests = {}

function tests.report_renders_tables_labels_and_enlarged_tiles()
  local dir = absolute(H.tmpdir())
  -- Two 8×8 images in pure green, enlarged to 112 pixels; a perturbation heat map beside them.
  local x = T.cat({T.zeros{2, 1, 8, 8}, T.ones{2, 1, 8, 8}, T.zeros{2, 1, 8, 8}}, 2)
  local eta = (T.rand({2, 3, 8, 8}, 3) - 0.5) * (2 * 8 / 255)
  local figure = {
    title = "Demo comparison", caption = "Two images.", classes = {"benign", "malignant"}, eps = 8 / 255,
    columns = {
      {images = x, labels = T.from{0, 1}, title = "ground truth"},
      {images = x, labels = T.from{1, 1}, truth = T.from{0, 1}, title = "adversarial", group = "PGD"},
      {images = smia.report.heat_map(eta, 8 / 255), title = "perturbation η", group = "PGD",
       captions = {"Var 1.10e-04", "Var 2.20e-04\nCos 0.75"}},
    },
  }
  local png = smia.report.figure(dir .. "/figure.png", figure)
  figure.png = png
  local rows = {{task = "lesions", method = "clean", accuracy = 0.9}, {task = "lesions", method = "pgd", accuracy = 0.125}}
  local page = smia.report.html(rows, dir .. "/report.html", {title = "Demo report", figures = {figure, png}})

  -- Everything is in the file: images as data: URIs, nothing fetched.
  local source = read(page)
  for src in source:gmatch('src="([^"]*)"') do
    assert(src:sub(1, 22) == "data:image/png;base64,", "an image not embedded: " .. src:sub(1, 60))
  end
  assert(not source:find("https?://"), "the page refers to the network")

  local dom = chromium(page, "--dump-dom", dir)
  for _, text in ipairs{"<title>Demo report</title>", "<td class=\"right\">0.1250</td>", ">adversarial</div>",
                        ">PGD</div>", "✗ malignant", "Var 2.20e-04", "Cos 0.75", "</span>benign</li>", "</span>malignant</li>",
                        "ε = 8/255", "−ε", "+ε", "Two images.", "figure.png"} do
    assert(dom:find(text, 1, true), ("rendered page lacks %q"):format(text))
  end

  chromium(page, "--screenshot=" .. quote(dir .. "/shot.png"), dir)
  local shot = smia.image.read(dir .. "/shot.png")
  H.eq(shot:shape()[1], 3, "screenshot channels")
  -- The four green tiles of the labelled figure, each 112×112 (the 8-pixel images enlarged 14
  -- times), and those of the PNG shown as it is below it (the same four at the same size).
  H.eq(count_colour(shot, {0, 1, 0}), 2 * 4 * 112 * 112, "green pixels of the enlarged tiles")
  -- The heat maps and the colour scale render: strong reds and blues.
  assert(count_colour(shot, {1, 0, 0}) + count_colour(shot, {0, 0, 1}) > 0, "no saturated heat-map colour rendered")
  H.rmdir(dir)
end

function tests.main_job_writes_a_report_that_renders()
  local dir = absolute(H.tmpdir())
  local command = ("cd %s && %s scripts/smia.lua --tasks ct_lung --n 2 --steps 4 --out %s </dev/null >%s/stdout 2>%s/stderr; echo $?")
    :format(quote(H.root), quote(H.host()), quote(dir .. "/out"), quote(dir), quote(dir))
  local status = tonumber(io.popen(command):read("a"))
  H.eq(status, 0, "exit status (stderr: " .. read(dir .. "/stderr") .. ")")
  local dom = chromium(dir .. "/out/report.html", "--dump-dom", dir)
  -- The tables of tables.md, then both figures with their labels.
  for _, text in ipairs{"Ablation (Table 1): segmentation", "Comparison (Table 6): segmentation", "ground truth",
                        ">FGSM</div>", ">PGD</div>", ">DAG</div>", ">SMIA (DEV+STA)</div>", ">DEV</div>", "iteration 4",
                        "perturbation η", "Var ", "Cos ", "left lung", "right lung", "ε = 8/255",
                        "figures/ct_lung_comparison.png", "figures/ct_lung_iterations.png"} do
    assert(dom:find(text, 1, true), ("rendered report lacks %q"):format(text))
  end
  chromium(dir .. "/out/report.html", "--screenshot=" .. quote(dir .. "/shot.png"), dir)
  local shot = smia.image.read(dir .. "/shot.png")
  local white = count_colour(shot, {1, 1, 1})
  assert(white < shot:shape()[2] * shot:shape()[3], "the screenshot is blank")
  H.rmdir(dir)
end

return tests
