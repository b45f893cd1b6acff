-- The paper's tables in its own layout (methods as rows, one column group per dataset or per
-- setting), filled with the main job's rows: Table 1 (ablation), Table 5 (the MNIST table, on
-- Fashion-MNIST), Table 6 (comparison), each under both protocols; with --full, Tables 2-4
-- (iterations, ε and α on the endoscopy task, as the paper on EAD-2019) under its protocol.
-- Every number here is ours: our generated data and small models, not the paper's datasets
-- and networks, so none is comparable with the paper's; each table says which rows are ours.
local paper_tables = {}

local metrics = {
  classification = {{"accuracy", "Acc(%)"}, {"fpr", "FPR(%)"}},
  segmentation = {{"pixel_accuracy", "Acc(%)"}, {"jaccard", "Jac(%)"}},
  detection = {{"iou", "IOU(%)"}, {"map50", "mAP(%)"}},
}

local function pct(v) return v and ("%.2f"):format(100 * v) or "–" end
local function sci(v) return v and ("%.2e"):format(v) or "–" end

local not_comparable = "All rows are ours: the project's generated benchmarks and Fashion-MNIST with its small shipped " ..
  "models, not the paper's datasets (COVID-19, EAD-2019, APTOS-2019, Kaggle-DR, MNIST) and networks, and our budgets; " ..
  "the paper's numbers are not comparable with them, only the ordering of the methods is."

-- The row of `task`, `method` under `protocol` (α = 1 for the SMIA variants): the variants
-- table's, or for DeepFool and DAG the main tables' when they ran under that protocol.
local function finder(all_rows, main_protocol)
  return function(task, method, protocol)
    for _, r in ipairs(all_rows) do
      if r.task == task and r.method == method then
        if r.variants_table and (method == "clean" or r.paper_protocol == (protocol == "paper")) and (r.alpha == nil or r.alpha == 1) then return r end
        if not r.variants_table and not r.paper_sweep and protocol == main_protocol and (method == "deepfool" or method == "dag") then return r end
      end
    end
  end
end

-- One Markdown table: rows {label, method} by column groups of tasks.
local function grid(find, env, selected, protocol, methods, extra)
  local head, rule = {"Methods"}, {"---"}
  for _, name in ipairs(selected) do
    for _, m in ipairs(metrics[env.tasks[name].kind]) do
      head[#head + 1], rule[#rule + 1] = name .. " " .. m[2], "---:"
    end
    if extra then head[#head + 1], rule[#rule + 1] = name .. " " .. extra[2], "---:" end
  end
  local lines = {"| " .. table.concat(head, " | ") .. " |", "| " .. table.concat(rule, " | ") .. " |"}
  for _, entry in ipairs(methods) do
    local cells = {entry[1]}
    for _, name in ipairs(selected) do
      local r = find(name, entry[2], protocol)
      for _, m in ipairs(metrics[env.tasks[name].kind]) do cells[#cells + 1] = pct(r and r[m[1]]) end
      if extra then cells[#cells + 1] = r and entry[2] ~= "clean" and extra[3](r[extra[1]]) or "–" end
    end
    lines[#lines + 1] = "| " .. table.concat(cells, " | ") .. " |"
  end
  return table.concat(lines, "\n")
end

-- Tables 1, 6 and 5 under each protocol, from the rows of the main tables and of the variants.
function paper_tables.render(all_rows, main_protocol, selected, env)
  local find = finder(all_rows, main_protocol)
  local out = {"## The paper's tables in its layout", "", not_comparable,
    "SMIA is the reading of docs/api.md (soft target, gradient through it); \"SMIA (authors')\" the authors' code " ..
    "(docs/smia_official.md); both at α = 1. DeepFool and DAG ran only under the main tables' protocol (" .. main_protocol .. ").", ""}
  for _, protocol in ipairs(env.protocols) do
    out[#out + 1] = ("### Table 1 (ablation), %s protocol: task metrics (%%) and Cos (share of positive cosines, %%)"):format(protocol)
    out[#out + 1] = ""
    out[#out + 1] = grid(find, env, selected, protocol,
      {{"Clean", "clean"}, {"DEV", "dev"}, {"DEV+STA", "smia_grad"}, {"DEV+STA (authors')", "smia_official"}},
      {"cos_positive", "Cos(%)", pct})
    out[#out + 1] = ""
    out[#out + 1] = ("### Table 6 (comparison), %s protocol: task metrics (%%) and Var"):format(protocol)
    out[#out + 1] = ""
    out[#out + 1] = grid(find, env, selected, protocol,
      {{"Clean", "clean"}, {"FGSM", "fgsm"}, {"PGD", "pgd"}, {"DeepFool", "deepfool"}, {"DAG", "dag"},
       {"SMIA", "smia_grad"}, {"SMIA (authors')", "smia_official"}},
      {"var", "Var", sci})
    out[#out + 1] = ""
    local clean = find("fashion_mnist", "clean", protocol)
    if clean then
      out[#out + 1] = ("### Table 5 (the MNIST table, on Fashion-MNIST), %s protocol"):format(protocol)
      out[#out + 1] = ""
      out[#out + 1] = "| Methods | Accuracy(%) | Decrease(%) |"
      out[#out + 1] = "| --- | ---: | ---: |"
      for _, m in ipairs{{"Clean", "clean"}, {"FGSM", "fgsm"}, {"PGD", "pgd"}, {"SMIA", "smia_grad"}, {"SMIA (authors')", "smia_official"}} do
        local r = find("fashion_mnist", m[2], protocol)
        if r then
          out[#out + 1] = ("| %s | %s | %s |"):format(m[1], pct(r.accuracy), m[2] == "clean" and "–" or pct(clean.accuracy - r.accuracy))
        end
      end
      out[#out + 1] = ""
    end
  end
  return table.concat(out, "\n")
end

-- Tables 2-4 on the endoscopy task under the paper's protocol (ε the step, no projection):
-- iterations 15, 20, 25 at ε = 0.01; ε 0.005, 0.01, 0.015 at 10 iterations; α 0, 0.75, 1, 1.25.
-- FGSM takes one step of the same bound (iterations·ε), PGD that radius, DAG steps of ε.
function paper_tables.sweeps(env)
  local task = env.tasks.endoscopy
  local model = env.tasks.load_model(task)
  local ds, n = env.data(task)
  local rows, results = {}, {}
  local function run(key, step, steps, alpha, only_smia)
    env.progress(("[endoscopy] paper table, %s"):format(key))
    local list = {}
    if not only_smia then
      list[#list + 1] = {"fgsm", smia.attack.fgsm{eps = steps * step}}
      list[#list + 1] = {"pgd", smia.attack.pgd{eps = steps * step, step = step, steps = steps, random_start = true, seed = 1}}
      list[#list + 1] = {"dag", smia.attack.dag{steps = steps, gamma = step}}
    end
    list[#list + 1] = {"smia_grad", smia.attack.smia{step = step, steps = steps, alpha = alpha, projection = "none"}}
    list[#list + 1] = {"smia_official", smia.attack.smia{variant = "official", step = step, steps = steps, alpha = alpha}}
    local result = smia.eval{model = model, data = ds, n = n, task = "endoscopy", attacks = list, keep = 0, batch_size = 50}
    results[key] = {}
    for _, r in ipairs(result) do
      r.paper_sweep, r.paper_protocol = true, true
      if r.method ~= "clean" then r.step, r.steps, r.alpha = step, steps, alpha end
      results[key][r.method] = r
      rows[#rows + 1] = r
    end
  end
  local settings = {
    {"Table 2 (iterations), ε = 0.01", {{"15", 0.01, 15, 1}, {"20", 0.01, 20, 1}, {"25", 0.01, 25, 1}}},
    {"Table 3 (ε), 10 iterations", {{"0.005", 0.005, 10, 1}, {"0.01", 0.01, 10, 1}, {"0.015", 0.015, 10, 1}}},
  }
  local out = {"## The paper's Tables 2-4 on the endoscopy task (the paper's protocol)", "", not_comparable,
    ("%d images. FGSM is one step of the same bound (iterations·ε), PGD is projected onto that radius, DAG takes steps of ε; SMIA and SMIA (authors') as in the tables above."):format(n), ""}
  local methods = {{"Clean", "clean"}, {"FGSM", "fgsm"}, {"PGD", "pgd"}, {"DAG", "dag"}, {"SMIA", "smia_grad"}, {"SMIA (authors')", "smia_official"}}
  for _, s in ipairs(settings) do
    local head, rule = {"Methods"}, {"---"}
    for _, v in ipairs(s[2]) do
      run(s[1] .. " " .. v[1], v[2], v[3], v[4])
      head[#head + 1], head[#head + 2] = v[1] .. " IOU(%)", v[1] .. " mAP(%)"
      rule[#rule + 1], rule[#rule + 2] = "---:", "---:"
    end
    out[#out + 1] = "### " .. s[1]
    out[#out + 1] = ""
    out[#out + 1] = "| " .. table.concat(head, " | ") .. " |"
    out[#out + 1] = "| " .. table.concat(rule, " | ") .. " |"
    for _, m in ipairs(methods) do
      local cells = {m[1]}
      for _, v in ipairs(s[2]) do
        local r = results[s[1] .. " " .. v[1]][m[2]]
        cells[#cells + 1], cells[#cells + 2] = pct(r and r.iou), pct(r and r.map50)
      end
      out[#out + 1] = "| " .. table.concat(cells, " | ") .. " |"
    end
    out[#out + 1] = ""
  end
  out[#out + 1] = "### Table 4 (α), ε = 0.01, 10 iterations"
  out[#out + 1] = ""
  out[#out + 1] = "| α | SMIA IOU(%) | SMIA mAP(%) | SMIA (authors') IOU(%) | SMIA (authors') mAP(%) |"
  out[#out + 1] = "| ---: | ---: | ---: | ---: | ---: |"
  for _, alpha in ipairs{0, 0.75, 1, 1.25} do
    local key = ("Table 4 α %g"):format(alpha)
    run(key, 0.01, 10, alpha, true)
    local a, b = results[key].smia_grad, results[key].smia_official
    out[#out + 1] = ("| %g | %s | %s | %s | %s |"):format(alpha, pct(a.iou), pct(a.map50), pct(b.iou), pct(b.map50))
  end
  out[#out + 1] = ""
  return rows, table.concat(out, "\n")
end

return paper_tables
