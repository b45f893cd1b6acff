-- The four tasks of the main job: each names its held-out data, the shipped model (its
-- architecture must match the weights in models/, see the cards there) and how it is scored.
local tasks = {}

-- Placeholder statistics: the real ones are buffers in the weights file and load with it.
local function normalized(options)
  options.mean, options.std = {}, {}
  for c = 1, options.in_channels do options.mean[c], options.std[c] = 0, 1 end
  return options
end

tasks.fundus = {
  title = "Fundus grading (diabetic retinopathy, 5 grades)",
  kind = "classification",
  data = function(n) return smia.data.fundus{split = "test", n = n} end,
  model = function() return smia.models.simple_cnn(normalized{in_channels = 3, num_classes = 5, width = 16, depth = 4}) end,
  weights = "models/fundus.safetensors",
  full_n = 1000,  -- the held-out images of the model card
  fpr = true,
  -- The grading model falls to almost any change at 8/255 (every attack leaves accuracy 0), so
  -- its default budget is smaller, as the paper's (step 5e-5 for grading against 0.05 for
  -- segmentation): differences between the attacks show there.
  eps = 0.5 / 255, step = 0.125 / 255,
}

tasks.ct_lung = {
  title = "CT lung segmentation (background, left lung, right lung)",
  kind = "segmentation",
  data = function(n) return smia.data.ct_lung{split = "test", n = n} end,
  model = function() return smia.models.unet{in_channels = 1, num_classes = 3, width = 4, depth = 3} end,
  weights = "models/ct_lung.safetensors",
  full_n = 500,
  classes = {1, 2},
}

tasks.endoscopy = {
  title = "Endoscopy artefact detection (5 classes)",
  kind = "detection",
  data = function(n) return smia.data.endoscopy{split = "test", n = n} end,
  model = function() return smia.models.detector{in_channels = 3, num_classes = 5, width = 8} end,
  weights = "models/endoscopy.safetensors",
  full_n = 500,
}

tasks.fashion_mnist = {
  title = "Fashion-MNIST (10 classes)",
  kind = "classification",
  data = function(n) return smia.data.fashion_mnist{split = "test", n = n} end,
  model = function() return smia.models.simple_cnn(normalized{in_channels = 1, num_classes = 10, width = 32, depth = 3}) end,
  weights = "models/fashion_mnist.safetensors",
  full_n = 10000,
}

tasks.order = {"fundus", "ct_lung", "endoscopy", "fashion_mnist"}

-- The name under which `task` is listed (nil for a table that is no task here).
function tasks.name_of(task)
  for _, name in ipairs(tasks.order) do
    if tasks[name] == task then return name end
  end
end

-- The model of a task with its shipped weights, in eval mode.
function tasks.load_model(task)
  local model = task.model()
  model:load_weights(task.weights)
  model:eval()
  return model
end

return tasks
