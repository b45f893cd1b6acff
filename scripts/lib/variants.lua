-- The readings of SMIA the main job compares (the variants table): which of the paper's claims
-- hold depends on choices the paper leaves open (docs/api.md, "SMIA's options"), so each is run beside the
-- baselines at the same budget, under both protocols (scripts/lib/protocols.lua).
local variants = {}

-- Name in the results, what it is, and its options of smia.attack.smia.
variants.smia = {
  {name = "smia_grad", text = "soft target f(x + W∗η), the gradient flowing through it (the defaults of docs/api.md)", options = {}},
  {name = "smia_detached", text = "the same target, detached", options = {detach_target = true}},
  {name = "smia_hard", text = "argmax labels of f(x + W∗η) (no gradient through argmax)", options = {hard_target = true}},
  {name = "smia_official", text = "the authors' code: argmax of f(x̃_prev + W∗(step·sign g)), docs/smia_official.md", options = {variant = "official"}},
}
variants.baselines = {"dev", "fgsm", "pgd"}

-- α of the default run and of --full; the default run's table takes at most `default_n`
-- images per task, so that it stays a few minutes on two cores.
variants.alphas = {default = {1}, full = {0.1, 0.5, 1}}
variants.default_n = 50

-- The attacks for budget p (protocols.budget), in groups with distinct names (smia.eval
-- summarizes per method name): DEV, FGSM and PGD, then per α each SMIA variant. Returns a list
-- of groups, each a list of {name, attack, alpha}.
function variants.attacks(p, alphas)
  local function with(extra)
    local t = {step = p.step, steps = p.steps, record = true}
    -- Without projection ε plays no part in DEV and SMIA; with it, it is the radius.
    if p.projection == "linf" then t.eps = p.eps end
    t.projection = p.projection
    for k, v in pairs(extra) do t[k] = v end
    return t
  end
  local groups = {{
    {"dev", smia.attack.dev(with{})},
    {"fgsm", smia.attack.fgsm{eps = p.eps}},
    {"pgd", smia.attack.pgd{eps = p.eps, step = p.step, steps = p.steps, random_start = true, seed = 1}},
  }}
  for _, alpha in ipairs(alphas) do
    local group = {}
    for _, v in ipairs(variants.smia) do
      local o = with(v.options)
      o.alpha = alpha
      group[#group + 1] = {v.name, smia.attack.smia(o), alpha}
    end
    groups[#groups + 1] = group
  end
  return groups
end

local metrics = {
  classification = {"accuracy", "fpr"},
  segmentation = {"pixel_accuracy", "jaccard"},
  detection = {"iou", "map50"},
}

local function cell(v)
  if v == nil then return "–" end
  if math.abs(v) < 1e-3 and v ~= 0 then return ("%.2e"):format(v) end
  return ("%.3f"):format(v)
end

-- Runs the table on every task of `selected`: env = {tasks, protocols, budget(task_name,
-- protocol), data(task) -> ds, n, limit (at most this many images), alphas, progress}. Returns the result rows (marked
-- `variants_table`, with `paper_protocol`, `alpha`, `eps`, `step`) and the Markdown section.
function variants.run(selected, env)
  local rows, lines = {}, {"## Variants of SMIA under both protocols", "",
    "SMIA as each reading of the paper and of the authors' code gives it, beside DEV, FGSM and PGD at the same budget. " ..
    "ball: 10 steps projected onto the task's L∞ ball (the other tables' protocol); paper: ε is each of the 10 steps, " ..
    "no projection, FGSM and PGD with radius 10·ε. Lower task metrics mean a stronger attack; var is the final " ..
    "perturbation's variance, cos+ the share of consecutive applied updates with a positive cosine, L∞ the largest change.", ""}
  for _, v in ipairs(variants.smia) do lines[#lines + 1] = ("- `%s`: %s"):format(v.name, v.text) end
  lines[#lines + 1] = ""
  for _, name in ipairs(selected) do
    local task = env.tasks[name]
    local model = env.tasks.load_model(task)
    local ds, n = env.data(task)
    n = math.min(n, env.limit or n)
    local cols = metrics[task.kind]
    lines[#lines + 1] = ("### %s (%d images)"):format(name, n)
    lines[#lines + 1] = ""
    lines[#lines + 1] = "| protocol | method | α | " .. table.concat(cols, " | ") .. " | var | cos+ | L∞ |"
    lines[#lines + 1] = "| --- | --- | ---: | " .. ("---: | "):rep(#cols) .. "---: | ---: | ---: |"
    for k, protocol in ipairs(env.protocols) do
      local p = env.budget(name, protocol)
      env.progress(("[%s] variants, %s protocol (step %.3g)"):format(name, protocol, p.step))
      for g, list in ipairs(variants.attacks(p, env.alphas)) do
        local result = smia.eval{model = model, data = ds, n = n, task = name, attacks = list,
                                 fpr = task.fpr, classes = task.classes, keep = 0, batch_size = 50}
        for _, r in ipairs(result) do
          local clean = r.method == "clean"
          if not clean or (k == 1 and g == 1) then
            -- Results hold numbers only: the protocol as a flag.
            r.variants_table = true
            if not clean then r.paper_protocol, r.eps, r.step, r.alpha = protocol == "paper", p.eps, p.step, list[1][3] end
            rows[#rows + 1] = r
            local values = {}
            for _, c in ipairs(cols) do values[#values + 1] = cell(r[c]) end
            lines[#lines + 1] = ("| %s | %s | %s | %s | %s | %s | %s |"):format(clean and "–" or protocol, r.method,
              r.alpha and ("%g"):format(r.alpha) or "–", table.concat(values, " | "), r.var and ("%.2e"):format(r.var) or "–", cell(r.cos_positive), cell(r.linf))
          end
        end
      end
    end
    lines[#lines + 1] = ""
  end
  return rows, table.concat(lines, "\n")
end

return variants
