-- The main job's figures, labelled so they read on their own: the method over its columns, the
-- ground truth beside the predictions (a wrong class marked ✗), the class legend, the
-- perturbations' colour scale in units of ε, and Var and Cos under the iteration panels. Each
-- function returns a figure table for smia.report.figure (the PNG for papers) and
-- smia.report.html (the report), as documented in Sources/LuaBridge/FigureTables.swift.
local T = smia.tensor
local figures = {}

-- How methods are named in figures.
figures.method_names = {clean = "clean", fgsm = "FGSM", pgd = "PGD", deepfool = "DeepFool", dag = "DAG",
                        dev = "DEV", smia = "SMIA (DEV+STA)"}

local function method_name(name) return figures.method_names[name] or name end

-- A column showing `images` with a task's labels drawn on them (predictions or the truth);
-- `truth` marks wrong class predictions.
function figures.view(kind, images, labels, truth, title, group)
  local c = {images = images, title = title, group = group}
  if kind == "classification" then
    c.labels, c.truth = labels, truth
  elseif kind == "segmentation" then
    c.masks = labels
  else
    c.boxes = labels
  end
  return c
end

-- Per image: the variance of a perturbation's values (the paper's Var, as the attacks' stats),
-- and the cosine between two updates (the paper's Cos).
function figures.variances(eta)
  local k = eta:shape()[1]
  return eta:reshape{k, -1}:var(2, false)
end
function figures.cosines(a, b)
  local k = a:shape()[1]
  a, b = a:reshape{k, -1}, b:reshape{k, -1}
  local norms = (a * a):sum(2):sqrt() * (b * b):sum(2):sqrt()
  return (a * b):sum(2) / norms:clamp(1e-12, math.huge)
end

local function var_text(v) return ("Var %.2e"):format(v) end

-- The comparison of methods on the kept images: the ground truth, the clean prediction, then
-- per method its adversarial image with the prediction and its perturbation (Var under it).
-- `examples` is smia.eval's rows.examples, `methods` a set of the method names to show.
function figures.comparison(o)
  local ex, kind = o.examples, o.kind
  local columns = {
    figures.view(kind, ex.x, ex.y, nil, "ground truth"),
    figures.view(kind, ex.x, ex.predictions, ex.y, "clean"),
  }
  local shown = {}
  for _, m in ipairs(ex.methods) do
    if o.methods[m.name] then
      local group = method_name(m.name)
      shown[#shown + 1] = group
      columns[#columns + 1] = figures.view(kind, m.x_adv, m.predictions, ex.y, "adversarial", group)
      local eta = m.x_adv - ex.x
      local var = figures.variances(eta)
      local captions = {}
      for i = 1, eta:shape()[1] do captions[i] = var_text(var[i]) end
      columns[#columns + 1] = {images = smia.report.heat_map(eta, o.eps), title = "perturbation η", group = group,
                               captions = captions}
    end
  end
  local what = kind == "classification" and "predicted class" or kind == "segmentation" and "predicted mask" or "detected boxes"
  return {
    title = ("%s: %s"):format(o.title, table.concat(shown, ", ")),
    caption = ("One row per held-out image. The ground truth, then the %s on the clean image and, for each method, on its adversarial image%s; "
      .. "each perturbation η = x_adv − x with its variance (Var, the paper's measure). Same budget for every method.")
      :format(what, kind == "classification" and " (✗: different from the truth)" or ""),
    columns = columns, classes = o.classes, eps = o.eps,
  }
end

-- DEV and SMIA on the kept images with the perturbation after chosen iterations (the paper's
-- Figure 2): returns the figure, and rows {method, iteration, var, cos} (means over the images)
-- for the tables. `run(name)` runs the attack `name` (recording its updates) on the images.
function figures.iterations(o)
  local ex, kind = o.examples, o.kind
  local shown = {}
  for _, t in ipairs{1, 4, 9} do
    if t <= o.steps then shown[#shown + 1] = t end
  end
  local columns, rows = {figures.view(kind, ex.x, ex.y, nil, "image")}, {}
  for _, name in ipairs{"dev", "smia"} do
    local stats = o.run(name)
    local eta = T.zeros_like(ex.x)
    local at = {}
    for _, s in ipairs(shown) do at[s] = true end
    for t, update in ipairs(stats.updates) do
      eta = eta + update
      if at[t] then
        local var = figures.variances(eta)
        local cos = t > 1 and figures.cosines(update, stats.updates[t - 1]) or nil
        local captions = {}
        for i = 1, eta:shape()[1] do
          captions[i] = var_text(var[i]) .. "\n" .. (cos and ("Cos %.2f"):format(cos[i]) or "Cos –")
        end
        columns[#columns + 1] = {images = smia.report.heat_map(eta, o.eps), title = ("iteration %d"):format(t),
                                 group = method_name(name), captions = captions}
        rows[#rows + 1] = {method = name, iteration = t, var = var:mean():item(), cos = cos and cos:mean():item() or nil}
      end
    end
  end
  local figure = {
    title = ("%s: perturbations of DEV and SMIA at iterations %s (paper Figure 2)"):format(o.title,
      table.concat(shown, ", ")),
    caption = "The accumulated perturbation after each iteration shown. Var: its variance over the image; "
      .. "Cos: the cosine between this iteration's update and the previous one (– at the first). "
      .. "The paper's claim: the stabilization (SMIA) gives lower Var and consistently positive Cos.",
    columns = columns, classes = o.classes, eps = o.eps,
  }
  return figure, rows
end

return figures
