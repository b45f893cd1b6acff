-- The text of the reference: what every smia function, method and option means, the fields of
-- an attack loss's `ctx` and of an attack's `stats`, and the definitions of the metrics. The
-- option *names and defaults* are not written here: `help` and `docs/reference.md` take them
-- from the code (smia.options_read runs each entry's `call` and reports the option tables the
-- constructors read), and Tests/lua/test_reference.lua fails when an option exists in the code
-- but not here, or here but not in the code. help.lua (run next) turns this into `help` and
-- into the Markdown of docs/reference.md (`make reference`).
local smia = ...
local T = smia.tensor

local R = {sections = {}}
smia.help = {reference = R}

local current
-- A section: `name` is what help(name) finds it by.
local function section(name, title, text)
  current = {name = name, title = title, text = text, entries = {}}
  R.sections[#R.sections + 1] = current
end

-- An entry for one function or method, or several sharing one text (`names` a list).
-- `extra.options`: option name -> meaning; `extra.call`: a call that reaches the option table
-- (its errors do not matter; the option tables it read are recorded); `extra.lua_options`: for
-- functions written in Lua, the chain of upvalue names leading to their table of known options.
local function entry(names, signature, text, extra)
  local e = extra or {}
  e.names = type(names) == "table" and names or {names}
  e.signature, e.text = signature, text
  current.entries[#current.entries + 1] = e
end

local function merged(...)
  local out = {}
  for _, t in ipairs{...} do for k, v in pairs(t) do out[k] = v end end
  return out
end

-- The smia table ---------------------------------------------------------------------------

section("smia", "The smia table", [[
`smia` is a global in every script and in the REPL (also `require("smia")`). Dimension and
element positions are 1-based as in Lua and Torch7; class labels are data values, 0-based as
stored. Constructors take one table of named options (`smia.attack.pgd{eps = 8/255}`); an unknown
option is an error that lists the known ones. `help(f)` or `help("name")` prints an entry of this
reference; `help()` the list of sections.]])

entry("smia.clock", "smia.clock()", "Wall-clock seconds (monotonic), for timing.")
entry("smia.seed", "smia.seed(n)", [[
Seeds parameter initialization, dropout and random tensors made without a seed (`T.rand(shape)`),
and the order of `ds:batches{shuffle = true}` without a seed.]])
entry("smia.no_grad", "smia.no_grad(f, ...)", "Runs `f(...)` without recording for autograd; returns its results.")
entry("smia.is_tensor", "smia.is_tensor(v)", "Whether `v` is a tensor.")
entry("smia.is_module", "smia.is_module(v)", "Whether `v` is a module (layer, model).")
entry("smia.is_terminal", "smia.is_terminal(fd)", "Whether file descriptor `fd` (0 stdin, 1 stdout, 2 stderr) is a terminal.")
entry("smia.memory", "smia.memory()", [[
Resident bytes of the process, bytes in use by Lua, and native bytes of the tensors Lua holds
(values and the recorded history behind them, counted from when a tensor reaches Lua until it
is collected, whether still reachable or not).]])
entry("smia.gc_threshold", "smia.gc_threshold([bytes])", [[
How far the native bytes of the tensors Lua holds may grow over their lowest since the last full
collection before another one is forced (so loops making large tensors run in flat memory; young
collections free most dropped tensors sooner); sets it when given; returns the previous value.]])
entry("smia.config", "smia.config()", "`{blas, blas_kernel, blas_kernel_chosen_by, blas_kernel_replaced, threads, thread_wait, cpu, onednn, onednn_isa}`: the BLAS library and version, its CPU kernel and who chose it (OpenBLAS, the user through OPENBLAS_CORETYPE, or smia-lua replacing a generic fallback), the thread count (--threads, SMIA_THREADS, else every core), how the threads wait between parallel regions (`spin 1000 rounds, then sleep`, the host's default, or what OMP_WAIT_POLICY and GOMP_SPINCOUNT set: `sleep at once`, `spin`, ...), the CPU's vector features, and the oneDNN version the convolutions run on (`off` with SMIA_ONEDNN=0) with the instruction set its kernels chose.")
entry("smia.system", "smia.system()", "`{threads =, blas =, kernel =}`: the cores the kernels use, OpenBLAS's configuration and its CPU kernel.")
entry({"smia.stop_on_signals", "smia.stop_requested"}, "smia.stop_on_signals() / smia.stop_requested()", [[
From then on SIGINT and SIGTERM only set a flag (a second one ends the process) / whether one came:
long loops, such as smia.eval's batches, end early to save what is done.]])
entry("smia.options_read", "smia.options_read(f, ...)", [[
Calls `f(...)` and returns the option tables the constructors it called read: a list of
`{function =, names =, positional =, defaults = {{name, default}, ...}}`, then `true`, or `false`
and the error message when the call failed. `help` and docs/reference.md take options from it.]])
entry("smia.show", "smia.show(...)", [[
Prints values as the REPL shows them: tables written out as Lua (`{2, 3}`), long modules as one
line of summary (`print(m)` prints them whole), functions with their reference name.]])
entry("smia.inspect", "smia.inspect(v)", "The text `smia.show(v)` prints, as a string.")

-- Help -------------------------------------------------------------------------------------

section("smia.help", "Help", [[
`help` is a global: `help(smia.attack.pgd)`, `help("pgd")`, `help("Tensor:sum")`, `help("ctx")`,
`help("stats")`, `help("metrics")`, `help()` for the overview.]])
entry({"help", "smia.help.print"}, "help([f | name])", [[
Prints the reference entry of a function (the value itself) or a name: a full name
(`smia.attack.pgd`, `Tensor:sum`), its last part (`pgd`, `sum`) or a section (`smia.attack`,
`ctx`, `stats`, `metrics`). Without an argument, the sections and their entries.]])
entry("smia.help.text", "smia.help.text(f | name)", "The text `help` prints, or nil and a message when nothing matches.")
entry("smia.help.name_of", "smia.help.name_of(f)", "The reference name of a smia function or method value (`smia.attack.pgd`), or nil.")
entry("smia.help.markdown", "smia.help.markdown()", "The whole reference as Markdown: what `make reference` writes to docs/reference.md.")
entry("smia.help.code_options", "smia.help.code_options(entry)", [[
For an entry of `smia.help.reference`, the option names the code reads (in its order) and a table
name → default, or nil and why; what the reference's option tables and their test use.]])
entry("smia.help.method_tables", "smia.help.method_tables()", "The method tables of tensors, modules, attacks, optimizers and datasets, by the names the reference uses (`Tensor`).")
entry("smia.help.options", "smia.help.options(name)", [[
The options of a constructor as the code reads them: a list of `{name =, default =, meaning =}`
(`default` as Lua source; `"required"` when it has none, `"nil"` when unset means off).]])

-- Tensors ----------------------------------------------------------------------------------

section("smia.tensor", "Tensors", [[
Float32 tensors, row-major; images are NCHW in [0, 1]. `T = smia.tensor`; `T{{1, 2}, {3, 4}}` is
`T.from`. Operators `+ - * / ^` and unary `-` work elementwise with broadcasting (numbers too);
`#t` is the size of dimension 1. Indexing: `t[i]` is position i of dimension 1 (a number for
rank 1), `t[{i, j}]` an element, `t[i] = v` and `t[{i, j}] = v` assign (a number, or a tensor
broadcastable to the block). Dimensions are 1-based (`-1` is the last). `argmax`, and the
indices of `max(dim)`/`min(dim)`, are 0-based: they compare with class labels. In-place methods
end in `_` and record nothing for autograd.]])

entry({"smia.tensor.zeros", "smia.tensor.ones"}, "T.zeros(sizes) / T.ones(sizes)", "A tensor of zeros / ones; `sizes` a table `{2, 3}` or integers `2, 3`.")
entry("smia.tensor.full", "T.full(sizes, value)", "A tensor filled with `value`.")
entry({"smia.tensor.rand", "smia.tensor.randn"}, "T.rand(sizes[, seed]) / T.randn(sizes[, seed])", [[
Uniform in [0, 1) / standard normal values; from `seed`, or without one from the stream
`smia.seed` sets.]])
entry("smia.tensor.from", "T.from(data)", "A tensor from nested tables of numbers (rectangular), a number (a scalar tensor) or a tensor (a copy).")
entry("smia.tensor.arange", "T.arange(n) / T.arange(start, stop[, step])", "0, 1, ..., n-1; or start, start+step, ... below stop.")
entry({"smia.tensor.cat", "smia.tensor.stack"}, "T.cat(list[, dim]) / T.stack(list[, dim])", "Joins tensors along an existing dimension / along a new one (dimension 1 by default).")
entry("smia.tensor.where", "T.where(cond, a, b)", "Elementwise `a` where `cond` is nonzero, else `b` (tensors or numbers, broadcast).")
entry({"smia.tensor.minimum", "smia.tensor.maximum"}, "T.minimum(a, b) / T.maximum(a, b)", "Elementwise minimum / maximum (tensors or numbers, broadcast).")
entry("smia.tensor.matmul", "T.matmul(a, b)", "Matrix product (2-D, or batched 3-D).")
entry("smia.tensor.is_tensor", "T.is_tensor(v)", "Whether `v` is a tensor.")
entry("smia.tensor.eye", "T.eye(n)", "The n x n identity.")
entry({"smia.tensor.zeros_like", "smia.tensor.ones_like"}, "T.zeros_like(t) / T.ones_like(t)", "Zeros / ones of `t`'s size.")
entry("smia.tensor.full_like", "T.full_like(t, value)", "`value` everywhere, `t`'s size.")
entry({"smia.tensor.rand_like", "smia.tensor.randn_like"}, "T.rand_like(t[, seed]) / T.randn_like(t[, seed])", "Random values of `t`'s size, as `T.rand` / `T.randn`.")

entry({"Tensor:shape", "Tensor:size", "Tensor:dim", "Tensor:numel", "Tensor:nelement"},
  "t:shape() / t:size([dim]) / t:dim() / t:numel() / t:nelement()",
  "The sizes as a table `{2, 3}`; one size, or all of them; the number of dimensions; the number of elements (both).")
entry("Tensor:item", "t:item()", "The value of a one-element tensor, as a number.")
entry("Tensor:totable", "t:totable()", "Nested Lua tables of the values (a number for a scalar).")
entry({"Tensor:clone", "Tensor:detach"}, "t:clone() / t:detach()", "A copy (recorded for autograd) / the same values cut from the autograd graph.")
entry({"Tensor:requires_grad", "Tensor:requires_grad_"}, "t:requires_grad() / t:requires_grad_([flag])",
  "Whether gradients flow to `t`; set it (default true). `smia.autograd.grad` sets it for its inputs itself.")
entry({"Tensor:reshape", "Tensor:view"}, "t:reshape(sizes) / t:view(sizes)", "The same values with other sizes (`-1` once: inferred).")
entry("Tensor:permute", "t:permute(dims)", "Dimensions reordered: `x:permute{1, 3, 4, 2}` (NCHW → NHWC).")
entry("Tensor:transpose", "t:transpose(d1, d2)", "Dimensions d1 and d2 swapped.")
entry("Tensor:slice", "t:slice(dim, start[, stop[, step]])", "Positions start..stop (inclusive, negative from the end) of `dim`, every `step`.")
entry("Tensor:narrow", "t:narrow(dim, start, length)", "`length` positions of `dim` from `start`.")
entry("Tensor:select", "t:select(dim, i)", "Position i of `dim`, that dimension removed.")
entry("Tensor:index", "t:index(dim, positions)", "The given positions (a table or a 1-D tensor, 1-based) of `dim`, in that order.")
entry("Tensor:flatten", "t:flatten([start_dim])", "Dimensions from `start_dim` (default 1) merged into one.")
entry({"Tensor:unsqueeze", "Tensor:squeeze"}, "t:unsqueeze(dim) / t:squeeze([dim])", "A dimension of size 1 inserted at `dim` / removed (all of them without `dim`).")
entry("Tensor:flip", "t:flip(dim | dims)", "Reversed along one dimension or a table of them.")
entry("Tensor:pad", "t:pad(widths[, value])", "Padded with `value` (default 0): `widths = {before, after, ...}` for the last dimensions, last first, as PyTorch's F.pad.")
entry({"Tensor:add", "Tensor:sub", "Tensor:mul", "Tensor:div", "Tensor:pow"}, "t:add(x) / t:sub(x) / t:mul(x) / t:div(x) / t:pow(x)",
  "Elementwise `t + x`, `t - x`, `t * x`, `t / x`, `t ^ x` (x a tensor, broadcast, or a number).")
entry({"Tensor:neg", "Tensor:abs", "Tensor:sign", "Tensor:exp", "Tensor:log", "Tensor:sqrt", "Tensor:relu", "Tensor:sigmoid", "Tensor:tanh"},
  "t:neg() / t:abs() / t:sign() / t:exp() / t:log() / t:sqrt() / t:relu() / t:sigmoid() / t:tanh()", "Elementwise functions.")
entry("Tensor:leaky_relu", "t:leaky_relu([slope])", "max(x, slope·x), slope 0.01 by default.")
entry({"Tensor:clamp", "Tensor:clamp_"}, "t:clamp(lo, hi) / t:clamp_(lo, hi)", "Values bounded to [lo, hi] (either may be nil); `clamp_` in place.")
entry({"Tensor:minimum", "Tensor:maximum"}, "t:minimum(x) / t:maximum(x)", "Elementwise minimum / maximum with x (tensor or number).")
entry("Tensor:matmul", "t:matmul(b)", "Matrix product, as `T.matmul(t, b)`.")
entry({"Tensor:softmax", "Tensor:log_softmax"}, "t:softmax(dim) / t:log_softmax(dim)", "Softmax / log-softmax along `dim`.")
entry({"Tensor:eq", "Tensor:ne", "Tensor:lt", "Tensor:le", "Tensor:gt", "Tensor:ge"}, "t:eq(x) / t:ne(x) / t:lt(x) / t:le(x) / t:gt(x) / t:ge(x)",
  "Elementwise comparisons giving 1 or 0 (x a tensor or a number); `pred:eq(y):mean()` is an accuracy.")
entry("Tensor:equal", "t:equal(b)", "Whether both have the same size and values (a boolean).")
entry({"Tensor:has_nan", "Tensor:is_finite"}, "t:has_nan() / t:is_finite()", "Whether any value is NaN / whether every value is finite (booleans).")
entry({"Tensor:sum", "Tensor:mean"}, "t:sum([dim[, keepdim]]) / t:mean([dim[, keepdim]])", "Sum / mean of all values (a scalar tensor) or along `dim`.")
entry({"Tensor:var", "Tensor:std"}, "t:var([dim[, unbiased[, keepdim]]]) / t:std(...)", "Variance / standard deviation, unbiased (n - 1) by default.")
entry({"Tensor:max", "Tensor:min"}, "t:max([dim[, keepdim]]) / t:min(...)", "The largest / smallest value (scalar tensor), or along `dim` the values and their 0-based indices.")
entry({"Tensor:argmax", "Tensor:argmin"}, "t:argmax([dim[, keepdim]]) / t:argmin(...)", "0-based position of the largest / smallest value (along `dim`): `logits:argmax(2)` gives class labels.")
entry("Tensor:norm", "t:norm([p])", "Per sample (dimension 1) p-norm of the rest, p = 2 by default (`math.huge` for L∞): a tensor (N).")
entry({"Tensor:copy_", "Tensor:add_", "Tensor:sub_", "Tensor:mul_", "Tensor:div_"}, "t:copy_(x) / t:add_(x) / t:sub_(x) / t:mul_(x) / t:div_(x)",
  "In place: t = x, t + x, t - x, t * x, t / x (x broadcast to t, or a number). Not recorded: for parameters between steps.")
entry({"Tensor:fill_", "Tensor:zero_"}, "t:fill_(v) / t:zero_()", "In place: every value set to v / to 0.")

-- Autograd ---------------------------------------------------------------------------------

section("smia.autograd", "Autograd", [[
Reverse mode, define-by-run, torch-autograd style. The first argument of the differentiated
function is a tensor or a table of tensors (a list such as `m:parameters()`, a name → tensor
table, nested tables); the gradient has the same keys. Recording is on during the call even
inside `smia.no_grad`.]])
entry("smia.autograd.grad", "smia.autograd.grad(f)", [[
Returns `df`: `local g, value, ... = df(x, ...)` gives the gradient of the scalar `f(x, ...)` with
respect to `x`, its value (a number), and `f`'s further results.]])
entry("smia.autograd.value_and_grad", "smia.autograd.value_and_grad(f)", "As `grad`, but `df` returns `value, g, ...`.")

-- nn ---------------------------------------------------------------------------------------

section("smia.nn", "Layers, functions and losses", [[
Layers are constructors taking one table of named options (`nn.Conv2d{in_channels = 1,
out_channels = 16, kernel_size = 3, padding = 1}`) or, for some, positional ones (`nn.Conv2d{1,
16, 3, padding = 1}`), with PyTorch's names and defaults; their parameters are named as in
PyTorch's state dicts. The functional forms take tensors and an optional table of options.
Losses are `loss(input, target[, options])`, the options a table or just the reduction's name
(`"mean"`, the default, `"sum"` or `"none"`).]])

local conv = {in_channels = "input channels", out_channels = "output channels",
  kernel_size = "kernel size: `3` or `{3, 5}`", stride = "stride: a number or `{h, w}`",
  padding = "zero padding on each side", dilation = "spacing of the kernel's taps",
  groups = "channel groups (in and out channels divisible by it)", bias = "whether the layer has a bias"}
entry("smia.nn.Conv2d", "nn.Conv2d{in_channels, out_channels, kernel_size, ...}", "2-D convolution, as torch.nn.Conv2d.",
  {options = conv, call = function() return smia.nn.Conv2d{in_channels = 1, out_channels = 1, kernel_size = 1} end})
entry("smia.nn.ConvTranspose2d", "nn.ConvTranspose2d{in_channels, out_channels, kernel_size, ...}", "Transposed 2-D convolution, as torch.nn.ConvTranspose2d.",
  {options = merged(conv, {output_padding = "extra size added to one side of the output"}),
   call = function() return smia.nn.ConvTranspose2d{in_channels = 1, out_channels = 1, kernel_size = 1} end})
local pool = {kernel_size = "window size: `2` or `{2, 3}` (also the first positional value)",
  stride = "step of the window (default: the kernel size)", padding = "implicit padding on each side",
  ceil_mode = "round the output size up instead of down"}
entry("smia.nn.MaxPool2d", "nn.MaxPool2d(k) / nn.MaxPool2d{kernel_size, stride, padding, ceil_mode}", "Max pooling.",
  {options = pool, call = function() return smia.nn.MaxPool2d{kernel_size = 2} end})
entry("smia.nn.AvgPool2d", "nn.AvgPool2d(k) / nn.AvgPool2d{kernel_size, stride, padding, ceil_mode, count_include_pad}", "Average pooling.",
  {options = merged(pool, {count_include_pad = "count the padding in the averages' divisor"}),
   call = function() return smia.nn.AvgPool2d{kernel_size = 2} end})
entry("smia.nn.AdaptiveAvgPool2d", "nn.AdaptiveAvgPool2d{output_size}", "Average pooling to a fixed output size.",
  {options = {output_size = "output size: `1` or `{h, w}`"}, call = function() return smia.nn.AdaptiveAvgPool2d{1} end})
entry("smia.nn.BatchNorm2d", "nn.BatchNorm2d{num_features, eps, momentum}", [[
Batch normalization over (N, H, W) per channel, with running statistics: batch statistics (and
updates of the running ones) in training mode, the running ones in eval mode.]],
  {options = {num_features = "channels", eps = "added to the variance", momentum = "weight of the new batch in the running statistics"},
   call = function() return smia.nn.BatchNorm2d{1} end})
entry("smia.nn.Linear", "nn.Linear{in_features, out_features, bias}", "y = x Wᵀ + b.",
  {options = {in_features = "input size", out_features = "output size", bias = "whether the layer has a bias"},
   call = function() return smia.nn.Linear{in_features = 1, out_features = 1} end})
entry("smia.nn.Flatten", "nn.Flatten{start_dim}", "Dimensions from `start_dim` merged into one.",
  {options = {start_dim = "first dimension merged (2: keeps the batch dimension)"}, call = function() return smia.nn.Flatten{} end})
entry("smia.nn.Dropout", "nn.Dropout{p}", "Zeroes values with probability p in training mode (scaling the rest by 1/(1-p)); nothing in eval mode.",
  {options = {p = "probability of zeroing a value (default 0.5)"}, call = function() return smia.nn.Dropout{} end})
entry("smia.nn.LeakyReLU", "nn.LeakyReLU{negative_slope}", "max(x, slope·x).",
  {options = {negative_slope = "slope for negative inputs"}, call = function() return smia.nn.LeakyReLU{} end})
entry("smia.nn.Softmax", "nn.Softmax{dim}", "Softmax along `dim`.", {options = {dim = "the dimension (required)"}, call = function() return smia.nn.Softmax{2} end})
entry("smia.nn.Upsample", "nn.Upsample{size | scale_factor, mode, align_corners}", "Resizing, as `nn.interpolate`.",
  {options = {size = "output size `{h, w}` (or one number)", scale_factor = "factor (or `{fh, fw}`) instead of a size",
              mode = "'nearest' or 'bilinear'", align_corners = "bilinear: align the corner pixels"},
   call = function() return smia.nn.Upsample{scale_factor = 2} end})
entry("smia.nn.Normalize", "nn.Normalize{mean, std}", "(x - mean) / std per channel: input normalization as a layer, so attacks work in pixel space.",
  {options = {mean = "a number or one per channel", std = "a number or one per channel"},
   call = function() return smia.nn.Normalize{mean = {0}, std = {1}} end})
entry({"smia.nn.ReLU", "smia.nn.Sigmoid", "smia.nn.Identity"}, "nn.ReLU() / nn.Sigmoid() / nn.Identity()", "Layers without options.",
  {options = {}, call = function() return smia.nn.ReLU() end})
entry("smia.nn.Sequential", "nn.Sequential{m1, m2, ...} / nn.Sequential(m1, m2, ...)", "Runs its children in order; children are `m[1]`, `m[2]`, ... and named \"0\", \"1\", ... in state dicts.")

entry("smia.nn.conv2d", "nn.conv2d(x, w[, b][, options])", "Functional 2-D convolution.",
  {options = {stride = conv.stride, padding = conv.padding, dilation = conv.dilation, groups = conv.groups},
   call = function() return smia.nn.conv2d(T.zeros{1, 1, 3, 3}, T.zeros{1, 1, 1, 1}, {}) end})
entry("smia.nn.conv_transpose2d", "nn.conv_transpose2d(x, w[, b][, options])", "Functional transposed convolution.",
  {options = {stride = conv.stride, padding = conv.padding, dilation = conv.dilation, groups = conv.groups,
              output_padding = "extra size added to one side of the output"},
   call = function() return smia.nn.conv_transpose2d(T.zeros{1, 1, 3, 3}, T.zeros{1, 1, 1, 1}, {}) end})
entry({"smia.nn.max_pool2d", "smia.nn.avg_pool2d"}, "nn.max_pool2d(x, k | options) / nn.avg_pool2d(x, k | options)", "Functional pooling, options as the layers'.",
  {options = merged(pool, {count_include_pad = "average pooling: count the padding in the divisor"}),
   call = function() return smia.nn.avg_pool2d(T.zeros{1, 1, 2, 2}, {kernel_size = 2}) end})
entry("smia.nn.adaptive_avg_pool2d", "nn.adaptive_avg_pool2d(x, size)", "Average pooling to a size (`1` or `{h, w}`).")
entry("smia.nn.batch_norm", "nn.batch_norm(x, running_mean, running_var[, weight, bias, training, momentum, eps])",
  "Batch normalization in PyTorch's argument order: the running statistics (eval), or with training = true the batch's, updating the running ones (momentum 0.1, eps 1e-5).")
entry("smia.nn.linear", "nn.linear(x, w[, b])", "x wᵀ + b.")
entry({"smia.nn.relu", "smia.nn.sigmoid", "smia.nn.tanh"}, "nn.relu(x) / nn.sigmoid(x) / nn.tanh(x)", "Elementwise activations.")
entry("smia.nn.leaky_relu", "nn.leaky_relu(x[, slope])", "max(x, slope·x), slope 0.01 by default.")
entry({"smia.nn.softmax", "smia.nn.log_softmax"}, "nn.softmax(x, dim) / nn.log_softmax(x, dim)", "Softmax / log-softmax along `dim`.")
entry("smia.nn.gaussian_kernel", "nn.gaussian_kernel(size, sigma)", "A normalized size x size Gaussian kernel (SMIA's W).")
entry("smia.nn.gaussian_blur", "nn.gaussian_blur(x, size, sigma)", "Each channel convolved with the Gaussian kernel (zero padding, same size).")
entry("smia.nn.interpolate", "nn.interpolate(x, {size | scale_factor, mode, align_corners})", "Resizing of NCHW images.",
  {options = {size = "output size `{h, w}` (or one number)", scale_factor = "factor (or `{fh, fw}`) instead of a size",
              mode = "'nearest' or 'bilinear'", align_corners = "bilinear: align the corner pixels"},
   call = function() return smia.nn.interpolate(T.zeros{1, 1, 2, 2}, {scale_factor = 2}) end})
local reduction = "'mean', 'sum' or 'none'"
entry("smia.nn.cross_entropy", "nn.cross_entropy(logits, y[, options])", "Cross-entropy of logits (N, K) or (N, K, H, W) against class labels, or against probabilities of the logits' size.",
  {options = {weight = "a weight per class (K)", ignore_index = "label whose samples (pixels) are left out",
              label_smoothing = "smoothing ε: targets (1-ε) one-hot + ε/K", reduction = reduction},
   call = function() return smia.nn.cross_entropy(T.zeros{1, 2}, T{0}, {}) end})
entry("smia.nn.nll_loss", "nn.nll_loss(log_probs, y[, options])", "Negative log-likelihood of log-probabilities.",
  {options = {weight = "a weight per class (K)", ignore_index = "label whose samples are left out", reduction = reduction},
   call = function() return smia.nn.nll_loss(T.zeros{1, 2}, T{0}, {}) end})
entry("smia.nn.bce_with_logits", "nn.bce_with_logits(logits, targets[, options])", "Binary cross-entropy on logits.",
  {options = {weight = "a weight per value (broadcast)", pos_weight = "a weight of the positive term per class", reduction = reduction},
   call = function() return smia.nn.bce_with_logits(T.zeros{1}, T.zeros{1}, {}) end})
entry({"smia.nn.mse_loss", "smia.nn.l1_loss"}, "nn.mse_loss(a, b[, options]) / nn.l1_loss(a, b[, options])", "Squared / absolute error.",
  {options = {reduction = reduction}, call = function() return smia.nn.mse_loss(T.zeros{1}, T.zeros{1}, {}) end})
entry("smia.nn.kl_div", "nn.kl_div(log_input, target[, options])", "KL divergence, as torch.nn.functional.kl_div (input as log-probabilities).",
  {options = {log_target = "the target is given as log-probabilities", reduction = reduction .. " or 'batchmean'"},
   call = function() return smia.nn.kl_div(T.zeros{1}, T.zeros{1}, {}) end})
entry("smia.nn.dice_loss", "nn.dice_loss(logits, masks[, options])", "1 - soft Dice of softmax(logits) against the masks, per class.",
  {options = {smooth = "added to numerator and denominator", reduction = reduction},
   call = function() return smia.nn.dice_loss(T.zeros{1, 2, 1, 1}, T.zeros{1, 1, 1}, {}) end})
entry("smia.nn.focal_loss", "nn.focal_loss(logits, targets[, options])", "CenterNet's focal loss of heatmap logits against target heatmaps, divided by the number of peaks.",
  {options = {alpha = "focusing exponent of the prediction", beta = "exponent of the down-weighting near peaks", reduction = reduction},
   call = function() return smia.nn.focal_loss(T.zeros{1, 1, 1, 1}, T.zeros{1, 1, 1, 1}, {}) end})

entry({"Module:forward", "Module:__call"}, "m(x) / m:forward(x)", "The output for x (a detector gives a table of heads, see Detector).")
entry({"Module:parameters", "Module:named_parameters", "Module:num_parameters"}, "m:parameters() / m:named_parameters() / m:num_parameters()",
  "The live parameter tensors (a list; changing them changes the model); name → tensor; their total count of values.")
entry({"Module:state_dict", "Module:load_state_dict"}, "m:state_dict() / m:load_state_dict(t)",
  "Parameters and buffers by PyTorch name; loads such a table strictly (every name and size must match), returning the module and the account of `load_weights`.")
entry({"Module:eval", "Module:train", "Module:is_training"}, "m:eval() / m:train([flag]) / m:is_training()", [[
Eval mode (batch norm's running statistics, no dropout) / training mode; both return the module;
whether it is in training mode (also the field `m.training`). Modules start in training mode, as in
PyTorch; attacks, smia.eval and the metrics' helpers run them in eval mode and restore the mode.]])
entry({"Module:children", "Module:get", "Module:add"}, "m:children() / m:get(i) / m:add(child)", "The child modules; child i; appends a child to a Sequential.")
entry("Module:type", "m:type()", "The layer's type name (`Conv2d`).")
entry("Module:load_weights", "m:load_weights(path[, {strict, strip_prefix}])", [[
Loads a safetensors file saved from PyTorch or by `save_weights`. Returns the module and an account
`{loaded =, missing =, unexpected =, mismatched =, summary =}`; strict loading fails with the
counts, a few names and a hint when a common prefix explains them.]],
  {options = {strict = "every name present, known and of the right shape, else an error; false loads what fits and prints the account on stderr",
              strip_prefix = "removed from the front of the file's names (`\"module.\"` for DataParallel weights)"},
   call = function() return smia.nn.Identity():load_weights("/nonexistent.safetensors", {}) end})
entry("Module:save_weights", "m:save_weights(path[, metadata])", "Writes the state dict as safetensors (float32), atomically; PyTorch reads it back.")

-- models -----------------------------------------------------------------------------------

section("smia.models", "Models", [[
Architectures with PyTorch's parameter names, so weights saved from PyTorch load as they are.]])
entry({"smia.models.resnet18", "smia.models.resnet34", "smia.models.resnet50"}, "smia.models.resnet18{num_classes, in_channels}", "torchvision's ResNet-18/34/50.",
  {options = {num_classes = "classes (the fc layer's outputs)", in_channels = "input channels"}, call = function() return smia.models.resnet18{} end})
entry("smia.models.unet", "smia.models.unet{in_channels, num_classes, width, depth}", "A U-Net with milesial/Pytorch-UNet's names; logits (N, K, H, W).",
  {options = {in_channels = "input channels", num_classes = "classes", width = "channels of the first level", depth = "down-sampling levels"},
   call = function() return smia.models.unet{} end})
entry("smia.models.detector", "smia.models.detector{in_channels, num_classes, width}", "A CenterNet-style detector (stride 4): `det(x)` gives `{heatmap, size, offset}`.",
  {options = {in_channels = "input channels", num_classes = "object classes", width = "channels of the backbone"},
   call = function() return smia.models.detector{} end})
entry("smia.models.simple_cnn", "smia.models.simple_cnn{in_channels, num_classes, width, depth, mean, std}", "A small CNN classifier for the CPU.",
  {options = {in_channels = "input channels", num_classes = "classes", width = "channels of the first block", depth = "conv blocks",
              mean = "with std: a Normalize layer first (per channel)", std = "with mean: a Normalize layer first"},
   call = function() return smia.models.simple_cnn{} end})
entry("Detector:loss", "det:loss(out, boxes)", "The CenterNet training loss against boxes per image (a scalar tensor), and its parts (numbers).")
entry("Detector:decode", "det:decode(out[, options])", "Per image a list of boxes `{x1 =, y1 =, x2 =, y2 =, class =, score =}` in input pixels, classes 0-based.",
  {options = {k = "candidate peaks per image", threshold = "least score kept", nms = "IoU threshold of non-maximum suppression, or false for none (0.5)"},
   call = function()
     local det = smia.models.detector{}:eval()
     return det:decode(det(T.zeros{1, 3, 16, 16}), {})
   end})

-- attacks ----------------------------------------------------------------------------------

section("smia.attack", "Attacks", [[
Each constructor takes one table of options and returns an attack `a`; `local x_adv, stats =
a:run(model, x, y)` attacks a batch. `model` is a module or a function x → output; images `x` are
(N, C, H, W) in [0, 1]; `y` the labels (N), the masks (N, H, W), or for a detector one list of
boxes `{x1, y1, x2, y2, class}` per image. The task (classification, segmentation, detection)
comes from the model's output or from the `task` option. A module runs in eval mode during the
attack and is put back. Losses are ascended; a targeted attack moves toward `target` (the built-in
attacks descend the loss of the target labels; a Lua loss is the script's to sign).
`tostring(a)` shows every option with its value.]])

local common = {
  eps = "L∞ radius of the perturbation (a number, or a tensor of N radii, one per image)",
  targeted = "reach `target` instead of leaving `y`",
  target = "target labels (N), or (N, H, W) for a segmenter; implies targeted = true",
  mask = "tensor broadcast to the images, 1 where pixels may change",
  early_stop = "stop changing an image once the attack succeeded on it",
  on_step = "function(info) after each iteration with info.iteration, info.loss, info.success (share of images where the attack succeeded; one extra forward pass) and info.x_adv; returning false stops the run",
  record = "keep every update: stats.updates and the Cos figures (stats.cos_mean, stats.cos_positive)",
  task = "'classification', 'segmentation' or 'detection'; nil: detection for a detector or boxes as labels, else from the rank of the output",
}
local iterative = merged(common, {
  step = "step size, or a function of the 1-based iteration returning one",
  steps = "iterations",
  random_start = "start from a uniform random point of the ball",
  restarts = "runs from new random starts, keeping per image the most successful",
  seed = "seed of the random start",
})
local smia_options = merged(iterative, {
  alpha = "weight of the stabilization term (0 gives DEV)",
  kernel_size = "size of SMIA's Gaussian kernel W",
  sigma = "σ of the Gaussian kernel",
  detach_target = "no gradient through the stabilization target f(x + W∗η)",
  hard_target = "the stabilization target is the argmax labels instead of probabilities",
  smooth = "'accumulated': W∗η of the whole perturbation; 'last_step': of the last update only",
  projection = "'linf': clip to the ε-ball; 'none': no projection (only the [0, 1] range)",
})
local function attack_call(name, options)
  return function() return smia.attack[name](options or {}) end
end
entry("smia.attack.fgsm", "smia.attack.fgsm{eps, ...}", "One sign step of size eps (Goodfellow et al.).",
  {options = common, call = attack_call("fgsm")})
entry("smia.attack.bim", "smia.attack.bim{eps, step, steps, ...}", "Iterative FGSM in the L∞ ball, no random start (Kurakin et al.).",
  {options = merged(common, {step = iterative.step, steps = iterative.steps}), call = attack_call("bim")})
entry("smia.attack.pgd", "smia.attack.pgd{eps, step, steps, norm, ...}", [[
Projected gradient descent (Madry et al.) from a random start. With norm = 'l2', eps defaults to 0.5
and the steps follow g/‖g‖₂.]],
  {options = merged(iterative, {norm = "'linf' or 'l2' (then eps defaults to 0.5)"}), call = attack_call("pgd")})
entry("smia.attack.mifgsm", "smia.attack.mifgsm{eps, step, steps, decay, ...}", "Momentum iterative FGSM (Dong et al.): sign steps on the accumulated normalized gradient.",
  {options = merged(iterative, {decay = "momentum decay μ"}), call = attack_call("mifgsm")})
entry("smia.attack.smia", "smia.attack.smia{eps, step, steps, alpha, ...}", [[
SMIA (Qi et al., ICLR 2021): sign steps on L(f(x̃), y) − α·L(f(x̃), f(x + W∗η)), the task loss minus
the stabilization term, W a Gaussian kernel and η the perturbation.]],
  {options = merged(smia_options, {
    variant = "'paper' (the default: the options above) or 'official', the authors' released code (docs/smia_official.md): a hard, detached target on x̃_prev + W∗(step·sign g), no projection unless projection = 'linf'",
    kernel = "with variant = 'official': 'gaussian' (a normalized Gaussian per channel, the default) or 'gkern' (the authors' unnormalized channel-mixing filter)",
  }), call = attack_call("smia")})
local dev_options = merged(smia_options)
dev_options.alpha = nil
entry("smia.attack.dev", "smia.attack.dev{eps, step, steps, ...}", "SMIA's deviation term alone (α = 0): the ablation's DEV; SMIA's options but alpha.",
  {options = dev_options, call = attack_call("dev")})
entry("smia.attack.iterative", "smia.attack.iterative{loss = function(ctx) ... end, ...}", [[
An attack whose loss, to ascend, is a Lua function of `ctx` (help("ctx")). It returns a scalar
tensor, or one loss per sample (N), summed; it must depend on ctx.x_adv (through ctx.output or
ctx.model(ctx.x_adv)). scripts/attacks/smia.lua writes SMIA this way.]],
  {options = merged(iterative, {
     loss = "function(ctx) returning the loss to ascend (required)",
     step_rule = "'sign', 'l2' (g/‖g‖₂), 'linf' (g/‖g‖∞), 'momentum' or 'adam'",
     decay = "momentum's decay",
     projection = "'linf' (the ε-ball), 'l2' or 'none'"}),
   call = attack_call("iterative", {loss = function() end})})
entry("smia.attack.deepfool", "smia.attack.deepfool{steps, overshoot, norm}", "DeepFool (Moosavi-Dezfooli et al.), classification, unbounded.",
  {options = {steps = "iterations at most", overshoot = "the step is scaled by 1 + overshoot", norm = "'l2' or 'linf'"},
   call = attack_call("deepfool")})
entry("smia.attack.cw", "smia.attack.cw{c, kappa, steps, lr, ...}", "Carlini & Wagner L2 (classification), Adam on tanh-space images.",
  {options = {c = "weight of the classification term", kappa = "confidence margin κ", steps = "Adam steps per search step",
              lr = "Adam's learning rate", search_steps = "binary search steps over c", abort_early = "stop when the loss stalls",
              targeted = common.targeted, target = "target labels (N); implies targeted = true"},
   call = attack_call("cw")})
entry("smia.attack.apgd", "smia.attack.apgd{eps, steps, norm, loss, ...}", "Auto-PGD (Croce & Hein), step size adapted from the progress.",
  {options = {eps = common.eps .. "; 0.5 with norm = 'l2'", steps = "iterations", norm = "'linf' or 'l2'",
              loss = "'ce' (cross-entropy; also detection) or 'dlr' (difference of logits ratio, classification)",
              restarts = iterative.restarts, random_start = iterative.random_start, seed = iterative.seed,
              rho = "share of successful steps below which the step halves",
              targeted = common.targeted, target = common.target, task = common.task},
   call = attack_call("apgd")})
entry("smia.attack.dag", "smia.attack.dag{gamma, steps, ...}", [[
Dense Adversary Generation (Xie et al.) on a segmenter or a detector: every correctly predicted
target (pixel, or heatmap cells of detected true boxes) is pushed to an adversarial class (the
runner-up on the clean image, or `target`); steps along g/‖g‖∞ of size gamma.]],
  {options = {gamma = "step size", steps = "iterations at most", eps = "an L∞ budget (nil: none)",
              targeted = common.targeted, target = "adversarial class per pixel (N, H, W); implies targeted = true",
              ignore_index = "label of pixels left alone (nil: none)", record = common.record},
   call = attack_call("dag")})
entry("Attack:run", "local x_adv, stats = a:run(model, x, y [, {clean_output = out}])", "Attacks a batch: the adversarial images and the statistics (help(\"stats\")). An attack runs the model once per step and once more to score its result; the report's clean figures come from its first step when that starts from `x`, else from the scoring pass, which then takes `x` and the result in one batch. `clean_output`, the model's output on `x` when the caller has it already (smia.eval computes it once per batch; for a detector the table `det(x)` returns will do), spares that.")
entry("Attack:name", "a:name()", "The attack's name (`pgd`).")

-- ctx and stats ----------------------------------------------------------------------------

--- The fields of `ctx`, the argument of an `iterative` attack's loss.
R.ctx = {
  {"model", "the model (a module; its forward passes count in stats.forwards; valid during the run only)"},
  {"x", "the clean images (N, C, H, W)"},
  {"x_adv", "the current adversarial images, whose gradient the engine takes"},
  {"output", "the model's output on ctx.x_adv, recorded for autograd: build the loss from it"},
  {"previous", "the images before the last update (ctx.x at iteration 1)"},
  {"y", "the labels, or the targets of a targeted attack; for a detector the boxes as a tensor (N, M, 5) padded with rows of class -1"},
  {"boxes", "detection only: the lists of boxes per image"},
  {"targeted", "whether the attack is targeted (then the loss is the script's to sign: ascend toward the target)"},
  {"task", "'classification', 'segmentation' or 'detection'"},
  {"iteration", "the iteration, from 1"},
  {"eps", "the radius: a number, or the per-sample tensor (N)"},
  {"state", "a table kept across the iterations of one run (fresh at iteration 1)"},
}

--- The fields of `stats`, the second result of `a:run`; `when` says when a field is there.
R.stats = {
  {"name", "the attack's name"},
  {"task", "the task"},
  {"success_rate", "share of the images the model got right before the attack on which the attack reached its goal (help(\"metrics\"))", "the model got at least one image right"},
  {"clean_correct", "how many images the model got right before the attack: the ones success_rate counts"},
  {"clean_accuracy", "accuracy before the attack", "classification"},
  {"accuracy", "accuracy on the adversarial images", "classification"},
  {"clean_pixel_accuracy", "pixel accuracy before the attack", "segmentation"},
  {"pixel_accuracy", "pixel accuracy on the adversarial images", "segmentation"},
  {"clean_recall", "mean share of each image's true boxes detected, before", "detection"},
  {"recall", "the same after the attack", "detection"},
  {"clean_map50", "mAP at IoU 0.5 of the default decoder's detections, before", "detection"},
  {"map50", "the same after the attack", "detection"},
  {"clean_iou", "mean over the true boxes of the best IoU with a detection of the same class, before", "detection"},
  {"iou", "the same after the attack", "detection"},
  {"linf", "mean over images of ‖η‖∞, η = x_adv − x"},
  {"l2", "mean over images of ‖η‖₂"},
  {"l0", "mean over images of the count of changed values"},
  {"var", "the paper's Var: variance of η within each image, averaged"},
  {"cos_mean", "the paper's Cos: mean cosine of consecutive updates", "record = true"},
  {"cos_positive", "share of positive cosines of consecutive updates", "record = true"},
  {"psnr", "peak signal-to-noise ratio in dB, averaged (identical images: 100)"},
  {"ssim", "structural similarity, averaged", "images larger than 11x11"},
  {"forwards", "images passed forward by the attack (its own work)"},
  {"gradients", "images whose input gradient the attack took"},
  {"seconds", "wall-clock time of the run"},
  {"seconds_per_image", "seconds / N"},
  {"losses", "the loss at each iteration (a list)"},
  {"success", "per image, 1 where the attack succeeded (tensor (N))"},
  {"sample_accuracy", "per image, 1 or 0 (classification) or the pixel accuracy (segmentation), after the attack", "classification, segmentation"},
  {"sample_recall", "per image, the share of its true boxes detected after the attack", "detection"},
  {"sample_clean_correct", "per image, 1 where the model got it right before the attack (counted in success_rate)"},
  {"sample_linf", "per image ‖η‖∞ (N)"},
  {"sample_l2", "per image ‖η‖₂ (N)"},
  {"sample_l0", "per image, the count of changed values"},
  {"sample_var", "per image, the variance of η"},
  {"sample_psnr", "per image PSNR (dB)"},
  {"sample_ssim", "per image SSIM", "images larger than 11x11"},
  {"sample_cos_mean", "per image, the mean cosine of consecutive updates (NaN without any)", "record = true"},
  {"sample_cos_positive", "per image, the share of positive cosines", "record = true"},
  {"updates", "the update of each iteration (a list of tensors)", "record = true"},
  {"output", "the model's output on x_adv as the engine scores it (no gradient; a detector's heads concatenated), for predictions without another forward pass"},
}

--- The metrics, as smia.metrics, smia.eval and stats define them.
R.metrics = {
  {"accuracy", "share of images whose predicted class (argmax of the logits) equals the label"},
  {"success_rate", [[the convention of torchattacks and ART: among the images the model got right
before the attack (a classifier's prediction is the label, a segmenter's pixel accuracy is at least
0.5, a detector finds at least one true box; their count is stats.clean_correct), the share on
which the attack reached its goal: untargeted, the prediction differs from the label (a
classifier), less than half of the pixels keep their label (a segmenter), none of the true boxes
is detected any more (a detector); targeted, the prediction is the target (more than half of the
pixels for a segmenter). Absent when the model got no image right. The adversarial accuracy is
beside it: accuracy (pixel_accuracy, recall) on the adversarial images over all images.]]},
  {"fpr", "false positive rate of a grader: share of the grade-0 (healthy) images predicted with a grade above 0 (nil when there is none)"},
  {"pixel_accuracy", "share of the pixels whose predicted class equals the mask's"},
  {"jaccard", "Jaccard index (IoU) per class, |P ∩ T| / |P ∪ T| with the pixels of all images pooled, averaged over `classes` (default: every class present in the predictions or the masks); `smia.metrics.iou` is the same"},
  {"dice", "2|P ∩ T| / (|P| + |T|) per class, pooled and averaged as jaccard"},
  {"iou (boxes)", "area of the intersection over the area of the union of two boxes; `iou` of detection rows and stats: mean over the true boxes of the best IoU with a detection of the same class in the same image (0 without one)"},
  {"map50", "VOC mean average precision at IoU 0.5: per class, detections sorted by score match an unmatched true box of IoU ≥ 0.5, AP the area under the all-point interpolated precision-recall curve; mean over the classes with true boxes"},
  {"recall", "per image, the share of its true boxes detected (a detection of the same class with IoU ≥ 0.5), averaged"},
  {"var", "the paper's Var: the variance of the perturbation η = x_adv − x over the values of each image, averaged over images"},
  {"cos", "the paper's Cos: the cosine between consecutive updates of each image (flattened); cos_mean their mean, cos_positive the share above 0"},
  {"linf, l2, l0", "norms of η per image, averaged: largest |value|, Euclidean norm, count of values changed by more than 1e-7"},
  {"psnr", "10·log10(1 / MSE(x_adv, x)) in dB per image, averaged"},
  {"ssim", "structural similarity (Wang et al. 2004), 11x11 Gaussian window σ = 1.5, per channel, averaged"},
}

-- eval and report --------------------------------------------------------------------------

section("smia.eval", "Evaluation", [[
`smia.eval{...}` runs attacks over a dataset and returns one results row per method (the clean
row first), ready for `smia.report`.]])
entry("smia.eval", "smia.eval{model, data, attacks, ...}", [[
Rows `{task, method, <task metrics>, success_rate, linf, l2, l0, var, cos_mean, cos_positive,
psnr, ssim, forwards, gradients, seconds_per_image}`; task metrics pool the whole set, the
perturbation figures are means over images. `rows.examples` keeps the first images for pictures.]],
  {options = {model = "a module or a function x → output (required)", data = "a smia.data dataset (required)",
              attacks = "a list of `{name, attack}` (required)", n = "the first n images (default: all)",
              batch_size = "images per batch (default 32)", task = "the rows' task name (default: the dataset's name)",
              fpr = "classification: add the false positive rate", classes = "segmentation: classes averaged in jaccard and dice",
              threshold = "detection: the decoder's score threshold", keep = "images kept for pictures (default 8)",
              progress = "a line per finished batch on stderr with the time left (default: when it is a terminal)",
              out = "folder of per-image results: out/per_image.jsonl (appended as each batch finishes) and .csv",
              resume = "continue the run in `out`: batches whose rows are all there are not computed again",
              shard = "`{k, n}`: batches k+1, k+1+n, ... only (0 <= k < n)", fields = "extra fields of every row (sweeps: `{eps = 8/255}`)",
              save = "folder of the adversarial images: save/<task>/<method>/<index>.npy",
              save_format = "'npy' (float32, default) or 'png' (16-bit)"},
   lua_options = {"check_options", "known"}})

section("smia.report", "Reports", [[
Results are a list of rows, each `{task =, method =, <figures by name>}` (fractions, not percent).]])
entry("smia.report.write", "smia.report.write(rows, dir[, options])", "Writes dir/tables.md, dir/results.csv and dir/results.json atomically; returns their paths.",
  {options = {title = "heading of tables.md", markdown = "text of tables.md instead of the generated tables",
              run = "the run's settings `{name = value}`: `# name: value` lines first in the CSV, and every row of the JSON carries them as `run`"},
   call = function() return smia.report.write({}, "/nonexistent/smia-help", {}) end})
entry("smia.report.markdown", "smia.report.markdown(rows[, options])", "The Markdown tables (one per task).",
  {options = {title = "heading", columns = "the figures shown, in order"}, call = function() return smia.report.markdown({}, {}) end})
entry({"smia.report.csv", "smia.report.json"}, "smia.report.csv(rows) / smia.report.json(rows)", "The rows as CSV / JSON text.")
entry("smia.report.heat_map", "smia.report.heat_map(eta[, scale])", "Perturbations (N, C, H, W) as RGB heat maps: blue negative, white zero, red positive, full colour at ±scale (default: the largest magnitude).")
entry("smia.report.figure", "smia.report.figure(path, figure) / smia.report.figure(path, columns[, options])", [[
Writes a labelled PNG grid, one row per image and one column per entry of `columns`: `{images = t,
labels = t, masks = t, boxes = lists, truth = t, title = text, group = text, captions = list}` (all but
images optional). `figure` is one table holding `columns` and the options: `title`, `caption`,
`classes` (names by label, for the legend), `eps` (the perturbations' colour scale), `count` (images
shown), `scale` (enlargement), `padding` (pixels between cells). A misspelt field is an error.]])
entry("smia.report.html", "smia.report.html(rows, path[, options])", [[
Writes one self-contained HTML page (no network, images embedded): the tables of `rows` (or the
given Markdown) and the figures, each a figure table as smia.report.figure takes or a PNG path.]],
  {options = {title = "the page's heading", markdown = "text of the tables instead of the generated ones",
              figures = "a list of figure tables or PNG paths"},
   call = function() return smia.report.html({}, "/nonexistent/smia-help.html", {}) end})

-- data -------------------------------------------------------------------------------------

section("smia.data", "Datasets", [[
Every constructor returns a dataset `ds`: `ds.task`, `ds.classes` (names by label:
`ds.classes[label + 1]`), `ds.channels`, `ds.name`, `#ds`. See docs/data.md for the benchmarks and
the file layouts.]])
local bench = {split = "'train' or 'test'", n = "samples", size = "image size (default: the benchmark's)", seed = "generator seed (default: the split's)"}
entry("smia.data.benchmark", "smia.data.benchmark{name, split, n, size, seed}", "A generated medical benchmark by name (fundus, ct_lung, endoscopy).",
  {options = merged(bench, {name = "the benchmark (also the first positional value)"}), call = function() return smia.data.benchmark{"fundus", n = 1} end})
entry({"smia.data.fundus", "smia.data.ct_lung", "smia.data.endoscopy"}, "smia.data.fundus{split, n, size, seed}",
  "The generated benchmarks: fundus grading (classification), CT lung segmentation, endoscopy artefact detection; rendered per batch.",
  {options = bench, call = function() return smia.data.fundus{n = 1} end})
entry("smia.data.fashion_mnist", "smia.data.fashion_mnist{split, n, root}", "Fashion-MNIST from Debian's dataset-fashion-mnist (or `root`).",
  {options = {split = "'train' or 'test'", n = "the first n samples (default: all)", root = "folder of the IDX files"},
   call = function() return smia.data.fashion_mnist{root = "/nonexistent"} end})
entry("smia.data.npz", "smia.data.npz{path, images, labels, scale, n, classes}", "A MedMNIST-style `.npz` archive, read per batch (checked in one pass when made).",
  {options = {path = "the file (required; also positional)", images = "array of images", labels = "array of labels",
              scale = "images are divided by it", n = "the first n samples", classes = "a count or a list of names"},
   call = function() return smia.data.npz{"/nonexistent.npz"} end})
local files = {channels = "1 or 3 (default: from the first image)", classes = "a count or a list of names (default: from the labels)",
  window = "for DICOM files, how values map to [0, 1], as smia.image.read's window"}
entry("smia.data.folder", "smia.data.folder{root, channels, window}", "PNG or DICOM images in one folder per class (`root/<class>/*.png`).",
  {options = {root = "the folder (required; also positional)", channels = files.channels, window = files.window}, call = function() return smia.data.folder{"/nonexistent"} end})
entry("smia.data.csv", "smia.data.csv{path, root, classes, channels, window}", "A CSV of `file,label` rows.",
  {options = merged(files, {path = "the CSV (required; also positional)", root = "folder of the files (default: the CSV's)"}),
   call = function() return smia.data.csv{"/nonexistent.csv"} end})
entry("smia.data.masks", "smia.data.masks{images, masks, classes, channels, window}", "Image/mask pairs of the same file names in two folders (segmentation).",
  {options = merged(files, {images = "folder of images (required)", masks = "folder of label PNGs (required)"}),
   call = function() return smia.data.masks{images = "/nonexistent", masks = "/nonexistent"} end})
entry("smia.data.boxes", "smia.data.boxes{path, root, classes, channels, window}", "A CSV of `file,x1,y1,x2,y2,class` rows (detection).",
  {options = merged(files, {path = "the CSV (required; also positional)", root = "folder of the files (default: the CSV's)"}),
   call = function() return smia.data.boxes{"/nonexistent.csv"} end})
entry("Dataset:size", "ds:size()", "The number of samples (also `#ds`).")
entry("Dataset:get", "ds:get(i)", "Sample i (1-based): the image C×H×W in [0, 1] and its target (a 0-based class, a mask H×W, or a list of boxes).")
entry("Dataset:file", "ds:file(i)", "The image file sample i is read from (datasets of files), else nil.")
entry("Dataset:batch", "ds:batch(positions)", "`{x = N×C×H×W, y = labels | masks | boxes per image, indices = positions}`.")
entry("Dataset:batches", "ds:batches{size, shuffle, seed, drop_last}", "An iterator of batches: `for b in ds:batches{size = 64} do ... end`.",
  {options = {size = "batch size", shuffle = "random order", seed = "the order's seed (default: the stream of smia.seed, a new order each call)",
              drop_last = "leave out a short last batch"},
   call = function() return smia.data.fundus{n = 1}:batches{} end})

-- image and io -----------------------------------------------------------------------------

section("smia.image", "Images", "PNG and DICOM files, CT windowing, volume slices, sample sheets.")
entry("smia.image.read", "smia.image.read(path[, {mask, window, frame}])", [[
A PNG (8 or 16 bit; alpha dropped) or DICOM file (`.dcm`, `.dicom`, or "DICM" in the file;
compressed transfer syntaxes too, rescale slope and intercept applied) as C×H×W in [0, 1]; with
mask = true, a label PNG as H×W of the stored integers. MONOCHROME1 images are inverted.]],
  {options = {mask = "read label values instead of intensities (PNG)",
              window = "DICOM: `{center =, width =}`, 'file' (the file's own window), 'range' (the stored bit depth's range) or 'minmax' (default: the file's window, else the range)",
              frame = "DICOM: the frame, from 1 (required for multi-frame files)"}, call = function() return smia.image.read("/nonexistent.png", {}) end})
entry("smia.image.write", "smia.image.write(path, t[, {mask, bits}])", "C×H×W, 1×C×H×W or H×W in [0, 1] as a PNG, atomically; with mask = true, integers 0..255.",
  {options = {mask = "write label values", bits = "8, or 16 (lossless to 1/65535, for adversarial images)"}, call = function() return smia.image.write("/nonexistent/x.png", T.zeros{1, 1, 1}, {}) end})
entry("smia.image.window", "smia.image.window(t, {center, width})", "CT display window: (x − (center − width/2)) / width clipped to [0, 1] (lung: center −600, width 1500).",
  {options = {center = "window centre (required)", width = "window width (required)"},
   call = function() return smia.image.window(T.zeros{1}, {center = 0, width = 1}) end})
entry("smia.image.slices", "smia.image.slices(volume[, dim])", "The 2-D slices of a (Z, Y, X) volume along `dim` (default 1), as a list.")
entry("smia.image.sheet", "smia.image.sheet{images, labels | masks | boxes, ...}", "A grid of images with their targets drawn, as one 3×H×W tensor.",
  {options = {images = "(N, C, H, W) (required)", labels = "class labels (N)", masks = "label maps (N, H, W)", boxes = "lists of boxes per image",
              count = "images shown (default: all)", columns = "images per row", padding = "pixels between cells", scale = "enlargement factor"},
   call = function() return smia.image.sheet{images = T.zeros{1, 1, 2, 2}} end})

section("smia.io", "Files", "safetensors, `.npz`, `.npy`, NIfTI, DICOM and IDX.")
entry("smia.io.load", "smia.io.load(path)", "A safetensors file (or `.npz`): a table name → tensor (float32), and the metadata table.")
entry("smia.io.save", "smia.io.save(path, tensors[, metadata])", "Writes name → tensor as safetensors (float32), atomically; `save(\"x.npy\", tensor)` one float32 `.npy` array, `save(\"x.npz\", {name = tensor})` an uncompressed `.npz`, as numpy.savez.")
entry("smia.io.read_array", "smia.io.read_array(path)", "The array of a `.npy`, NIfTI-1 (`.nii`, `.nii.gz`: (Z, Y, X), scaled by slope and intercept), DICOM (`.dcm`, `.dicom` or the DICM signature: (frames, rows, columns[, 3]), rescaled by slope and intercept) or IDX file.")

-- metrics ----------------------------------------------------------------------------------

section("smia.metrics", "Metrics", [[
Task metrics, as fractions; predictions are labels or scores (the class dimension second); targets
are labels. Definitions: help("metrics").]])
entry("smia.metrics.accuracy", "smia.metrics.accuracy(pred, y)", "Share of correct predictions.")
entry("smia.metrics.confusion", "smia.metrics.confusion(pred, y[, {classes}])", "K×K counts, rows the true class, columns the predicted one.",
  {options = {classes = "K (default: from the labels)"}, call = function() return smia.metrics.confusion(T{0}, T{0}, {}) end})
entry("smia.metrics.fpr", "smia.metrics.fpr(pred, y)", "Share of the grade-0 images predicted above grade 0 (nil without grade-0 images).")
entry("smia.metrics.pixel_accuracy", "smia.metrics.pixel_accuracy(pred, masks)", "Share of correct pixels.")
entry({"smia.metrics.iou", "smia.metrics.jaccard", "smia.metrics.dice"}, "smia.metrics.iou(pred, masks[, {classes}])",
  "Jaccard (IoU) / Dice, pixels pooled over the set: the mean over `classes`, and a table class → value (0-based labels).",
  {options = {classes = "the classes averaged, e.g. {1, 2} (default: every class present)"},
   call = function() return smia.metrics.iou(T{{{0}}}, T{{{0}}}, {}) end})
entry("smia.metrics.box_iou", "smia.metrics.box_iou(a, b)", "IoU of two boxes `{x1, y1, x2, y2}`.")
entry("smia.metrics.map", "smia.metrics.map(detections, truths[, {iou}])", "VOC mAP (all-point) and a table class → AP, for lists per image of detections `{x1, y1, x2, y2, class, score}` and true boxes.",
  {options = {iou = "IoU for a match"}, call = function() return smia.metrics.map({{}}, {{}}, {}) end})
entry("smia.metrics.mean_box_iou", "smia.metrics.mean_box_iou(detections, truths)", "Mean over the true boxes of the best IoU with a detection of the same class in the same image (0 without one).")

-- optim and train --------------------------------------------------------------------------

section("smia.optim", "Optimizers", [[
Optimizers over a module's parameters (or a list of tensors), stepped with gradients in the same
order: `opt:step(grads)`. `opt.lr` reads and sets the learning rate, `opt.steps` counts the steps.
Schedules are callable: `opt.lr = s(opt.steps)`.]])
local function params() return {T.zeros{1}} end
entry("smia.optim.sgd", "smia.optim.sgd(params, {lr, ...})", "Stochastic gradient descent, as torch.optim.SGD.",
  {options = {lr = "learning rate (required)", momentum = "momentum", dampening = "momentum dampening", nesterov = "Nesterov momentum", weight_decay = "L2 penalty"},
   call = function() return smia.optim.sgd(params(), {lr = 0.1}) end})
local adam = {lr = "learning rate", betas = "`{β1, β2}` (default {0.9, 0.999})", eps = "added to the denominator", amsgrad = "AMSGrad's maximum"}
entry("smia.optim.adam", "smia.optim.adam(params[, options])", "Adam, as torch.optim.Adam.",
  {options = merged(adam, {weight_decay = "L2 penalty added to the gradient"}), call = function() return smia.optim.adam(params(), {}) end})
entry("smia.optim.adamw", "smia.optim.adamw(params[, options])", "AdamW (decoupled weight decay), as torch.optim.AdamW.",
  {options = merged(adam, {weight_decay = "decoupled weight decay"}), call = function() return smia.optim.adamw(params(), {}) end})
entry({"smia.optim.clip_grad_norm", "smia.optim.clip_grad_value"}, "smia.optim.clip_grad_norm(grads, max_norm) / clip_grad_value(grads, limit)",
  "Scale the gradients so their global L2 norm is at most max_norm / clamp them to ±limit, in place; clip_grad_norm returns the total norm (before clipping, as PyTorch's).")
entry("smia.optim.schedule.step", "smia.optim.schedule.step{lr, step_size | milestones, gamma}", "lr times gamma every step_size steps, or at each milestone.",
  {options = {lr = "initial rate (required)", step_size = "steps between decays", milestones = "steps at which to decay", gamma = "factor"},
   call = function() return smia.optim.schedule.step{lr = 1, step_size = 1} end})
entry("smia.optim.schedule.cosine", "smia.optim.schedule.cosine{lr, steps, min}", "Cosine decay from lr to min over `steps`.",
  {options = {lr = "initial rate (required)", steps = "length (required)", min = "final rate"},
   call = function() return smia.optim.schedule.cosine{lr = 1, steps = 1} end})
entry("smia.optim.schedule.warmup", "smia.optim.schedule.warmup{steps, after}", "Linear warm-up over `steps`, then the schedule `after`.",
  {options = {steps = "warm-up steps (required)", after = "the schedule that follows (required)"},
   call = function() return smia.optim.schedule.warmup{steps = 1, after = smia.optim.schedule.cosine{lr = 1, steps = 1}} end})
entry("Optimizer:step", "opt:step(grads)", "One update with gradients in the order of `opt:parameters()`; returns the optimizer.")
entry("Optimizer:parameters", "opt:parameters()", "The parameter tensors, in order.")
entry("Optimizer:type", "opt:type()", "The optimizer's name (`SGD`).")

section("smia.per_image", "Per-image results", [[
The rows of smia.eval's `out` folder, one per image and method (identity, truth, predictions,
success, norms, ...), and the files they live in; scripts/smia.lua's --resume, --shard and --merge
are built on them.]])
entry("smia.per_image.batch_rows", "smia.per_image.batch_rows(b)", "The rows of one evaluated batch `{task, kind, fields, batch, indices, files, classes, y, clean, attacks = {{name, predictions, stats}, ...}}`.")
entry("smia.per_image.group", "smia.per_image.group(row)", "The key of a row's evaluation: its task and extra fields (not its method).")
entry("smia.per_image.reserved", "smia.per_image.reserved(name)", "Whether `name` is a field of the rows themselves (not free for extra fields).")
entry("smia.per_image.summarize", "smia.per_image.summarize(rows[, options])", "smia.eval's result rows (one per task and method) from per-image rows.")
entry("smia.per_image.summary", "smia.per_image.summary()", "A streaming summary: `s:add(row)` row by row, `s:drop(batch)`, `s:result(options)` as summarize's; only sums per method and batch are kept.")
entry({"smia.per_image.read", "smia.per_image.each", "smia.per_image.line", "smia.per_image.append"}, "smia.per_image.read(path) / each(path, fn) / line(row) / append(path, rows)",
  "The rows of a per_image.jsonl file (a last line cut by a crash is left out) / the same one at a time, fn(row, line, offset), in flat memory / one row as a JSON line / appends rows and flushes them.")
entry({"smia.per_image.csv", "smia.per_image.csv_of_file", "smia.per_image.write", "smia.per_image.write_whole", "smia.per_image.write_streamed"},
  "smia.per_image.csv(rows) / csv_of_file(jsonl, csv) / write(dir, rows) / write_whole(path, text) / write_streamed(path, fn)",
  "The CSV of rows / per_image.csv from a per_image.jsonl, streamed / writes dir/per_image.jsonl and .csv whole / writes a file through a temporary file and a rename / the same, fn(write) writing it piece by piece.")
entry("smia.per_image.save_adversarial", "smia.per_image.save_adversarial(dir, task, method, indices, x_adv[, format])", "Adversarial images, losslessly: dir/<task>/<method>/<index>.npy (float32) or .png (16-bit).")
entry("smia.per_image.plan", "smia.per_image.plan(options)", "smia.eval's bookkeeping of the batches to compute, done and saved in `out` (resume, shards).")
entry({"smia.json.encode", "smia.json.decode"}, "smia.json.encode(value[, {order}]) / smia.json.decode(text)", "JSON text of a Lua value (keys of `order` first, then sorted) / the Lua value of JSON text (errors name the byte position).")

section("smia.train", "Training", "The training loop of scripts/train/*.lua and its parts.")
entry("smia.train.fit", "smia.train.fit{model, optimizer, train, ...}", [[
Trains `model` for `epochs` epochs; returns `{epochs = {{epoch, loss, metric, lr, seconds}, ...},
best_epoch =, best =}` and leaves the model in eval mode.]],
  {options = {model = "the module (required)", optimizer = "a smia.optim optimizer (required)",
              train = "`{x =, y =}`, a dataset, or function(epoch, rng) giving batches (required)",
              loss = "function(output, batch) → scalar tensor (default: cross-entropy with batch.y)",
              schedule = "function of the step (0 first) giving the learning rate, or a smia.optim schedule",
              val = "data for the metric after each epoch", metric = "function(model, val) → number (default: accuracy)",
              mode = "'max' (default) or 'min': which metric is better", epochs = "epochs (default 1)",
              batch_size = "default 32", seed = "shuffling and augmentation (default 0)", shuffle = "default true",
              drop_last = "default false", augment = "function(batch, rng) → batch, or options of train.augmentation",
              clip_grad_norm = "largest global gradient norm", checkpoint = "path: the best epoch's weights, written atomically",
              quiet = "no progress lines (default: unless stderr is a terminal)"},
   lua_options = {"configure", "fit_options"}})
entry("smia.train.augmentation", "smia.train.augmentation{flip, vflip, crop, brightness}", "A function(batch, rng) → batch of random flips, crops and brightness changes (boxes and masks follow).",
  {options = {flip = "random horizontal flips", vflip = "random vertical flips", crop = "pad by this many zeros and crop at a random place",
              brightness = "add a random value in ±brightness"},
   lua_options = {"augment_options"}})
entry("smia.train.accuracy", "smia.train.accuracy(model, data[, batch_size])", "Share of `model(x):argmax(2)` equal to y (pixel accuracy for segmenters), in eval mode without recording.")
entry("smia.train.rng", "smia.train.rng(seed)", "A seeded generator (SplitMix64): `g:uniform()`, `g:random(n)`, `g:permutation(n)`.")
entry("smia.train.source", "smia.train.source(data[, what])", "What fit reads from data: `{size =, batch = function(positions)}`, or nil and a message.")

return R
