-- smia.lua: the main job of smia-lua. It reproduces the experiments of "Stabilized Medical
-- Image Attacks" (Qi et al., ICLR 2021; see docs/api.md) on the project's own data:
-- three generated medical tasks (fundus grading, CT lung segmentation, endoscopy artefact
-- detection) and Fashion-MNIST, each with the model shipped in models/.
--
--   smia-lua scripts/smia.lua [options]        (make run does this with no options)
--
-- For each task, on the first --n held-out images:
--   1. the clean metrics of the model;
--   2. the ablation (paper Table 1): DEV (the task loss alone, iterative sign steps) against
--      DEV+STA (SMIA, with the stabilization term), task metrics and Cos (the cosine between
--      consecutive updates: mean, and the share of positive values);
--   3. the comparison (paper Table 6): FGSM, PGD, DeepFool (classification) or DAG
--      (segmentation, detection), and SMIA, task metrics and Var (the variance of the final
--      perturbation per image, averaged);
--   4. the Fashion-MNIST table (paper Table 5): clean, FGSM, PGD and SMIA accuracy.
-- Every iterative attack takes --steps steps of --step within the L∞ ball of radius --eps (PGD
-- from a random start, as Madry et al.; without one it would be DEV itself)
-- (FGSM one step of --eps; DeepFool and DAG --steps iterations, DAG with steps of --step).
-- It prints the tables and writes DIR/tables.md, DIR/results.csv, DIR/results.json (one object
-- per task and method; figures as fractions) and pictures in DIR/figures: per task the clean,
-- adversarial and perturbation images of each method, and the perturbation of DEV and SMIA at
-- iterations 1, 4 and 9 (labelled: methods, ground truth, class legend, colour scale in ε, Var
-- and Cos), and DIR/report.html, one self-contained page with the tables and the figures.
-- Every image's results go to DIR/per_image.jsonl and DIR/per_image.csv
-- (appended as each batch finishes; the tables are computed from them). Progress: one line per
-- finished batch on stderr, with the time left (--quiet: none).
--
-- Options:
--   --tasks LIST   comma-separated: fundus,ct_lung,endoscopy,fashion_mnist (default: all)
--   --n N          images per task (default 200); --all-images: each task's whole held-out set
--   --protocol P   ball (default): steps inside the L∞ ball of radius --eps; paper: the paper's,
--                  ε the size of each step, no projection (scripts/lib/protocols.lua)
--   --full         the variants table at every α (0.1, 0.5, 1) and the paper's Tables 2-4 on
--                  endoscopy (scripts/lib/variants.lua, scripts/lib/paper_tables.lua); without
--                  it the variants table runs at α = 1 on at most 50 images per task
--   --eps X        L∞ radius (default 8/255; fundus 0.5/255, see scripts/lib/tasks.lua)
--   --step X       step size (default eps/4)
--   --steps K      iterations (default 10)        --alpha A  SMIA's α (default 1)
--   --out DIR      output folder (default out)
--   --sweep iterations|eps|alpha   instead of the tables above, the paper's sweeps (Tables 2-4):
--                  PGD, DeepFool or DAG and SMIA (with FGSM for eps) over 5-25 iterations,
--                  ε from 1/4 to 2 times the task's (step ε/4), or SMIA's α from 0 to 2.
--   --batch-size B images per batch (default 50)   --quiet  no progress lines
--   --save-adv     also write every adversarial image, float32 .npy: DIR/adversarial/<task>/<method>/
--   --save-format npy|png   with --save-adv: float32 .npy (default) or 16-bit PNG
--   --resume       continue a run stopped midway (killed, or SIGINT/SIGTERM: those stop after the
--                  current batch) in the same --out: finished batches are not computed again
--   --shard K/N    only batches K+1, K+1+N, ... of every task (K from 0); inside a Slurm array
--                  job K/N come from SLURM_ARRAY_TASK_ID/COUNT, in a Kubernetes indexed Job from
--                  JOB_COMPLETION_INDEX with --shards N
--   --merge DIR... the shards' --out folders into --out: the same results as one run
--                  (same options as the shards). The variants table and the paper's sweeps
--                  cover the whole run: shard 0 computes them (into its whole_run.json), the
--                  other shards leave them out, and the merge takes them from shard 0
local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
local cli = dofile(here .. "/lib/cli.lua")
local tasks = dofile(here .. "/lib/tasks.lua")
local figures = dofile(here .. "/lib/figures.lua")
local protocols = dofile(here .. "/lib/protocols.lua")
local variants = dofile(here .. "/lib/variants.lua")
local paper_tables = dofile(here .. "/lib/paper_tables.lua")
local runs = dofile(here .. "/lib/runs.lua")
local T = smia.tensor

local usage = "smia-lua scripts/smia.lua [--tasks fundus,ct_lung,endoscopy,fashion_mnist] [--n N | --all-images] [--protocol ball|paper] [--full] "
  .. "[--eps X] [--step X] [--steps K] [--alpha A] [--out DIR] [--sweep iterations|eps|alpha] "
  .. "[--batch-size B] [--quiet] [--save-adv] [--save-format npy|png] [--resume] [--shard K/N | --shards N] [--merge DIR...]"
local args, merge_dirs = runs.split_merge(arg)
-- The options, one a line: what parses the command line and what --help prints.
local o = cli.parse(args, {
  tasks = cli.option(table.concat(tasks.order, ","), "comma-separated tasks to run", "LIST"),
  n = cli.option(200, "held-out images per task"),
  all_images = cli.option(false, "each task's whole held-out set instead of --n images"),
  full = cli.option(false, "the variants table at α 0.1, 0.5 and 1 on --n images (instead of α = 1 on 50) and the paper's Tables 2-4 on the endoscopy task"),
  protocol = cli.option("ball", "'ball': steps of --step in the L∞ ball of radius --eps; 'paper': ε is the size of each of the steps, nothing projects (the paper's Section 3.1)", "NAME"),
  eps = cli.optional("number", "L∞ radius of every attack, a number or arithmetic (8/255)", "X",
                     "each task's budget, 8/255, the fundus grader 0.5/255 (scripts/lib/tasks.lua)"),
  step = cli.optional("number", "step size of the iterative attacks and DAG's gamma", "X", "eps/4"),
  steps = cli.option(10, "iterations of the iterative attacks, DeepFool and DAG", "K"),
  alpha = cli.option(1.0, "SMIA's α, the weight of its stabilization term", "A"),
  out = cli.option("out", "output folder: tables.md, results.csv, results.json, figures/", "DIR"),
  sweep = cli.optional("string", "instead of the tables, the paper's sweep (Tables 2-4) over 'iterations' (5 to 25), "
                       .. "'eps' (1/4 to 2 times the task's) or 'alpha' (0 to 2)", "WHAT", "no sweep"),
  batch_size = cli.option(50, "images per batch", "B"),
  quiet = cli.option(false, "no progress lines"),
  save_adv = cli.option(false, "also write every adversarial image to DIR/adversarial/<task>/<method>/"),
  save_format = cli.option("npy", "with --save-adv: 'npy' (float32) or 'png' (16-bit)", "FORMAT"),
  resume = cli.option(false, "continue a run stopped midway in the same --out: finished batches are not computed again"),
  shard = cli.optional("string", "only batches K+1, K+1+N, ... of every task (K from 0)", "K/N", "all batches"),
  shards = cli.optional("integer", "inside a Slurm array (SLURM_ARRAY_TASK_ID) or an indexed Job (JOB_COMPLETION_INDEX): N shards", "N", "none"),
}, usage)
if o.n < 1 then o.fail(("--n must be at least 1, got %d"):format(o.n)) end
if o.eps and not (o.eps > 0 and o.eps <= 1) then o.fail(("--eps must be in (0, 1], got %g"):format(o.eps)) end
if o.step and not (o.step > 0 and o.step <= 1) then o.fail(("--step must be in (0, 1], got %g"):format(o.step)) end
if o.steps < 1 then o.fail(("--steps must be at least 1, got %d"):format(o.steps)) end
if not (o.alpha >= 0) then o.fail(("--alpha must be >= 0, got %g"):format(o.alpha)) end
if o.sweep and o.sweep ~= "iterations" and o.sweep ~= "eps" and o.sweep ~= "alpha" then
  o.fail(("--sweep must be iterations, eps or alpha, got '%s'"):format(o.sweep))
end
if not protocols.known[o.protocol] then o.fail(("--protocol must be ball or paper, got '%s'"):format(o.protocol)) end
local selected = {}
for name in o.tasks:gmatch("[^,]+") do
  if not tasks[name] or name == "order" then o.fail(("unknown task '%s' (expected %s)"):format(name, table.concat(tasks.order, ", "))) end
  -- A task whose model was not trained here is left out, saying how to train it.
  local f = io.open(tasks[name].weights, "rb")
  if f then
    f:close()
    selected[#selected + 1] = name
  else
    io.stderr:write(("smia.lua: leaving out %s: %s is missing (train it with smia-lua scripts/train/%s.lua)\n")
      :format(name, tasks[name].weights, name))
  end
end
if #selected == 0 then o.fail("--tasks names no task with a trained model") end

if o.batch_size < 1 then o.fail(("--batch-size must be at least 1, got %d"):format(o.batch_size)) end
if o.save_format ~= "npy" and o.save_format ~= "png" then o.fail(("--save-format must be npy or png, got '%s'"):format(o.save_format)) end
local shard = runs.shard(o)
if merge_dirs and (shard or o.resume) then o.fail("--merge combines finished shards: no --shard, --shards or --resume with it") end
local eval = runs.evaluator(o, shard, merge_dirs)
local run_attacks = {}  -- every attack run, for the run's record
local started_at = os.time()
if not o.resume then os.remove(o.out .. "/per_image.jsonl") end
smia.stop_on_signals()  -- SIGINT and SIGTERM: stop after the current batch, what is done kept
local function progress(message)
  if not o.quiet then io.stderr:write(message, "\n") end
end
-- After a stop signal, the batches done are on disk: say how to go on, and end.
local function stop_if_asked()
  if smia.stop_requested() then
    io.stderr:write(("smia.lua: stopped by a signal; the finished batches are in %s/per_image.jsonl; "
      .. "rerun the same command with --resume to continue\n"):format(o.out))
    os.exit(3)
  end
end

-- Attacks ------------------------------------------------------------------------------------

-- The methods run on a task of `kind` with budget p = {eps, step, steps, alpha}; `only` limits
-- them to some names.
local function attacks(kind, p, only)
  local budget = {eps = p.eps, step = p.step, steps = p.steps}
  local function with(extra)
    local t = {}
    for k, v in pairs(budget) do t[k] = v end
    for k, v in pairs(extra) do t[k] = v end
    return t
  end
  local list = {
    {"fgsm", function() return smia.attack.fgsm{eps = p.eps} end},
    {"pgd", function() return smia.attack.pgd(with{random_start = true, seed = 1}) end},
    kind == "classification" and {"deepfool", function() return smia.attack.deepfool{steps = p.steps} end}
      or {"dag", function() return smia.attack.dag{steps = p.steps, gamma = p.step} end},
    {"dev", function() return smia.attack.dev(with{record = true, projection = p.projection}) end},
    {"smia", function() return smia.attack.smia(with{alpha = p.alpha, record = true, projection = p.projection}) end},
  }
  local out = {}
  for _, entry in ipairs(list) do
    if not only or only[entry[1]] then
      out[#out + 1] = {entry[1], entry[2]()}
      run_attacks[#run_attacks + 1] = out[#out][2]
    end
  end
  return out
end

-- Which methods take the budget's eps and step (see attacks above).
local uses_eps = {fgsm = true, pgd = true, dev = true, smia = true}
local uses_step = {pgd = true, dag = true, dev = true, smia = true}

local metric_columns = {
  classification = {"accuracy", "fpr"},
  segmentation = {"pixel_accuracy", "jaccard"},
  detection = {"iou", "map50"},
}

local function columns(kind, ...)
  local out = {}
  for _, c in ipairs(metric_columns[kind]) do out[#out + 1] = c end
  for _, c in ipairs{...} do out[#out + 1] = c end
  return out
end

-- Pictures (scripts/lib/figures.lua) --------------------------------------------------------

-- Every figure drawn, for the HTML report.
local report_figures = {}
local function draw(path, figure)
  smia.report.figure(path, figure)
  figure.png = path
  report_figures[#report_figures + 1] = figure
end

-- Tables -------------------------------------------------------------------------------------

local function subset(rows, methods)
  local out = {}
  for _, r in ipairs(rows) do
    if methods[r.method] then out[#out + 1] = r end
  end
  return out
end

local function set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

-- A Markdown section: a heading, a sentence, then the tables (one per task, as smia.report
-- writes them, one heading level down).
local function section(title, text, rows, cols)
  local body = smia.report.markdown(rows, {columns = cols}):gsub("## ", "### ")
  return ("## %s\n\n%s\n\n%s"):format(title, text, body)
end

-- The experiments --------------------------------------------------------------------------

-- A task's budget: --eps and --step when given (step eps/4 by default), else the task's own
-- (scripts/lib/tasks.lua), else 8/255 and 2/255.
local function budget_for(task, protocol)
  local eps = o.eps or task.eps or 8 / 255
  local step = o.step or (o.eps and eps / 4) or task.step or eps / 4
  return protocols.budget(protocol or o.protocol, tasks.name_of(task), {eps = eps, step = step}, o.steps, o.alpha)
end
local function in_255(v) return ("%.3g/255"):format(v * 255) end
local figures_dir = o.out .. "/figures"
-- The sweeps draw no pictures: no empty folder for them.
if not o.sweep then os.execute(("mkdir -p '%s'"):format(figures_dir:gsub("'", "'\\''"))) end
local all_rows, markdown = {}, {}
local started = smia.clock()
local budgets = {}
for _, name in ipairs(selected) do
  local b = budget_for(tasks[name])
  -- A sweep names the value it varies in its table, not in this header.
  budgets[#budgets + 1] = o.sweep == "eps" and b.projection == "none"
      and ("%s steps from %g to %g (bound steps·step)"):format(name, b.step / 4, b.step * 2)
    or o.sweep == "eps" and ("%s ε from %s to %s, step ε/4"):format(name, in_255(b.eps / 4), in_255(b.eps * 2))
    or b.projection == "none" and ("%s steps of %g (bound %g)"):format(name, b.step, b.eps)
    or ("%s ε = %s, step %s"):format(name, in_255(b.eps), in_255(b.step))
end
local settings = ("%s; %s, %s, %s; %s images per task")
  :format(table.concat(budgets, "; "), o.sweep == "iterations" and "5 to 25 steps" or ("%d steps"):format(o.steps),
          o.sweep == "alpha" and "α from 0 to 2" or ("α = %g"):format(o.alpha),
          o.protocol == "paper" and "the paper's protocol (no projection)" or "L∞ projection", o.all_images and "all held-out" or tostring(o.n))

local function data_for(task)
  local ds = task.data(o.all_images and task.full_n or o.n)
  return ds, math.min(ds:size(), o.all_images and ds:size() or o.n)
end

if not o.sweep then
  local iteration_rows = {}
  for _, name in ipairs(selected) do
    local task = tasks[name]
    local t0 = smia.clock()
    progress(("[%s] %s"):format(name, task.title))
    local model = tasks.load_model(task)
    local ds, n = data_for(task)
    local budget = budget_for(task)
    local rows = eval{model = model, data = ds, n = n, task = name, attacks = attacks(task.kind, budget),
                      fpr = task.fpr, classes = task.classes, keep = 4, batch_size = o.batch_size,
                      save = o.save_adv and o.out .. "/adversarial" or nil, save_format = o.save_format}
    stop_if_asked()
    for _, r in ipairs(rows) do
      -- The budget each method used: DeepFool has none (unbounded, its own steps), DAG only
      -- its step (gamma), FGSM one step of eps; under the paper's protocol eps is the bound
      -- steps·step that nothing projects onto.
      if uses_eps[r.method] then r.eps = budget.eps end
      if uses_step[r.method] then r.step = budget.step end
      if r.method ~= "clean" then r.paper_protocol = budget.projection == "none" end
      all_rows[#all_rows + 1] = r
    end
    if rows.examples.x then  -- (a shard without the first batch has none)
      local shown = {title = task.title, kind = task.kind, examples = rows.examples, classes = ds.classes, eps = budget.eps,
                     steps = budget.steps, methods = set{"fgsm", "pgd", "deepfool", "dag", "smia"}}
      draw(("%s/%s_comparison.png"):format(figures_dir, name), figures.comparison(shown))
      shown.run = function(method)
        local _, stats = attacks(task.kind, budget, {[method] = true})[1][2]:run(model, rows.examples.x, rows.examples.y)
        return stats
      end
      local iterations, iteration_table = figures.iterations(shown)
      draw(("%s/%s_iterations.png"):format(figures_dir, name), iterations)
      for _, r in ipairs(iteration_table) do
        r.task = name
        iteration_rows[#iteration_rows + 1] = r
      end
    end
    progress(("[%s] done in %.1f s"):format(name, smia.clock() - t0))
  end

  local function kind_rows(kind, methods)
    local out = {}
    for _, r in ipairs(subset(all_rows, methods)) do
      if tasks[r.task].kind == kind then out[#out + 1] = r end
    end
    return out
  end
  markdown[#markdown + 1] = ("# SMIA on the medical benchmarks\n\n%s. Figures are fractions (accuracy 0.9 = 90%%).\n"):format(settings)
  for _, kind in ipairs{"classification", "segmentation", "detection"} do
    local clean = kind_rows(kind, set{"clean"})
    if #clean > 0 then
      markdown[#markdown + 1] = section("Clean: " .. kind, "The shipped models on held-out images.", clean, columns(kind))
      markdown[#markdown + 1] = section("Ablation (Table 1): " .. kind,
        "DEV is the task loss alone; SMIA adds the stabilization term (DEV+STA). Lower task metrics mean a stronger attack; cos_positive is the share of consecutive updates pointing the same way.",
        kind_rows(kind, set{"clean", "dev", "smia"}), columns(kind, "cos_mean", "cos_positive"))
      markdown[#markdown + 1] = section("Comparison (Table 6): " .. kind,
        "Lower task metrics mean a stronger attack; var is the variance of the final perturbation per image.",
        kind_rows(kind, set{"clean", "fgsm", "pgd", "deepfool", "dag", "smia"}), columns(kind, "var", "linf", "l2"))
    end
  end
  local fashion = {}
  for _, r in ipairs(subset(all_rows, set{"clean", "fgsm", "pgd", "smia"})) do
    if r.task == "fashion_mnist" then
      local clean = all_rows[1]
      for _, c in ipairs(all_rows) do if c.task == "fashion_mnist" and c.method == "clean" then clean = c end end
      r.decrease = clean.accuracy - r.accuracy
      fashion[#fashion + 1] = r
    end
  end
  if #fashion > 0 then
    markdown[#markdown + 1] = section("Fashion-MNIST (Table 5)", "Accuracy, and its decrease from the clean accuracy.", fashion, {"accuracy", "decrease"})
  end
  if #iteration_rows > 0 then
    local lines = {"## Perturbations at iterations 1, 4 and 9 (Figure 2)", "",
      "Pictures in figures/<task>_iterations.png: DEV then SMIA, each at the iterations below, for four images (full colour at ε). var: the perturbation's variance; cos: cosine between this update and the previous one.", "",
      "| task | method | iteration | var | cos |", "| --- | --- | ---: | ---: | ---: |"}
    for _, r in ipairs(iteration_rows) do
      lines[#lines + 1] = ("| %s | %s | %d | %.3e | %s |"):format(r.task, r.method, r.iteration, r.var, r.cos and ("%.4f"):format(r.cos) or "–")
    end
    markdown[#markdown + 1] = table.concat(lines, "\n") .. "\n"
  end
  -- The variants table, both protocols (scripts/lib/variants.lua); the paper's tables in its layout.
  local env = {tasks = tasks, protocols = protocols.names, data = data_for, progress = progress,
               alphas = o.full and variants.alphas.full or variants.alphas.default,
               limit = not o.full and variants.default_n or nil,
               budget = function(name, protocol) return budget_for(tasks[name], protocol) end}
  -- Whole-run work, done once (scripts/lib/runs.lua): shard 0 of a sharded run, not the others.
  local whole = runs.whole_run(o, shard, merge_dirs, function()
    local out = {}
    out.variant_rows, out.variant_text = variants.run(selected, env)
    if o.full and set(selected).endoscopy then out.sweep_rows, out.sweep_text = paper_tables.sweeps(env) end
    return out
  end)
  stop_if_asked()
  if whole then
    for _, r in ipairs(whole.variant_rows) do all_rows[#all_rows + 1] = r end
    markdown[#markdown + 1] = whole.variant_text
    markdown[#markdown + 1] = paper_tables.render(all_rows, o.protocol, selected, env)
    if whole.sweep_text then
      for _, r in ipairs(whole.sweep_rows) do all_rows[#all_rows + 1] = r end
      markdown[#markdown + 1] = whole.sweep_text
    end
  else
    markdown[#markdown + 1] = ("## Variants table and the paper's tables\n\nShard 0 computes them once for the whole run; "
      .. "they are in the merged results (this is shard %d/%d).\n"):format(shard[1], shard[2])
  end
  markdown[#markdown + 1] = "Pictures in figures/<task>_comparison.png: per row one image; columns: the clean image with the model's prediction, then for FGSM, PGD, DeepFool or DAG, and SMIA the adversarial image with its prediction and the perturbation (red positive, blue negative, full colour at ε).\n"
else
  -- Sweeps (Tables 2-4).
  local values, param, only
  if o.sweep == "iterations" then
    values, param, only = {5, 10, 15, 20, 25}, "steps", set{"pgd", "deepfool", "dag", "smia"}
  elseif o.sweep == "eps" then
    values, param, only = {0.25, 0.5, 1, 2}, "eps", set{"fgsm", "pgd", "deepfool", "dag", "smia"}  -- × the task's ε
  else
    values, param, only = {0, 0.5, 0.75, 1, 1.25, 2}, "alpha", set{"smia"}
  end
  for _, name in ipairs(selected) do
    local task = tasks[name]
    local model = tasks.load_model(task)
    local ds, n = data_for(task)
    for i, v in ipairs(values) do
      local p = budget_for(task)
      if param == "eps" then
        v = v * p.eps
        -- The ball's step is a quarter of its radius; the paper's radius is steps·step.
        p.step = p.projection == "none" and v / p.steps or v / 4
      end
      p[param] = v
      -- The paper's protocol bounds FGSM and PGD by steps·step, which moves with the steps.
      if param == "steps" and p.projection == "none" then p.eps = v * p.step end
      progress(("[%s] %s = %.4g"):format(name, param, v))
      -- DeepFool takes no eps: once is enough in the eps sweep.
      local run = only
      if param == "eps" and i > 1 then run = set{"fgsm", "pgd", "dag", "smia"} end
      local rows = eval{model = model, data = ds, n = n, task = name, attacks = attacks(task.kind, p, run),
                        fpr = task.fpr, classes = task.classes, keep = 0, batch_size = o.batch_size,
                        fields = {[param] = v}}
      stop_if_asked()
      for k, r in ipairs(rows) do
        if k > 1 or i == 1 then
          -- DAG has no eps: the eps sweep varies its step (eps/4) only.
          if param == "eps" then
            r.eps = uses_eps[r.method] and v or nil
            r.step = uses_step[r.method] and p.step or nil
          else
            r[param] = r.method ~= "clean" and v or nil
          end
          all_rows[#all_rows + 1] = r
        end
      end
    end
    progress(("[%s] done"):format(name))
  end
  markdown[#markdown + 1] = ("# SMIA sweep over %s\n\n%s.\n"):format(param, settings)
  markdown[#markdown + 1] = section(("Sweep over %s (Tables 2-4)"):format(param),
    "Lower task metrics mean a stronger attack.", all_rows,
    (function()
      local cols = {param}
      if param == "eps" then cols[2] = "step" end
      for _, kind in ipairs{"classification", "segmentation", "detection"} do
        for _, c in ipairs(metric_columns[kind]) do cols[#cols + 1] = c end
      end
      cols[#cols + 1], cols[#cols + 2] = "var", "cos_positive"
      return cols
    end)())
end

local text = table.concat(markdown, "\n")
print(text)
smia.report.write(all_rows, o.out, {markdown = text, run = runs.metadata(o, shard, started_at, run_attacks)})
smia.report.html(all_rows, o.out .. "/report.html", {markdown = text, figures = report_figures})
progress(("wrote %s/tables.md, results.csv, results.json, per_image.jsonl, per_image.csv, report.html and figures/ in %.1f s"):format(o.out, smia.clock() - started))
