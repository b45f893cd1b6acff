-- Your own images and your own PyTorch model: a folder of PNGs in class subfolders
-- (root/<class>/*.png) and a torchvision ResNet-18 saved with safetensors
-- (`safetensors.torch.save_file(model.state_dict(), "model.safetensors")`), attacked by PGD and SMIA.
--   smia-lua scripts/examples/own_data.lua [FOLDER] [WEIGHTS]
-- Without arguments: a demo folder of generated fundus PNGs, and the PyTorch ResNet-18 of ../shared/fixtures.
local folder, weights = arg[1], arg[2] or "../shared/fixtures/resnet18_c3_64x64_k5_s1.weights.safetensors"
if not folder then
  folder = os.tmpname() .. "-images"
  local demo = smia.data.fundus{split = "test", n = 16}
  for i = 1, demo:size() do
    local image, grade = demo:get(i)
    os.execute(("mkdir -p %s/grade%d"):format(folder, grade))
    smia.image.write(("%s/grade%d/%03d.png"):format(folder, grade, i), image)
  end
end
local data = smia.data.folder{root = folder, channels = 3}
local classes = smia.io.load(weights)["fc.weight"]:shape()[1]  -- as many as the weights were trained for
local model = smia.models.resnet18{num_classes = classes, in_channels = 3}
model:load_weights(weights)
model:eval()  -- batch norm with its running statistics, as PyTorch's model.eval()
local rows = smia.eval{model = model, data = data, attacks = {
  {"pgd", smia.attack.pgd{eps = 4 / 255, steps = 10}},
  {"smia", smia.attack.smia{eps = 4 / 255, steps = 10, record = true}},
}}
-- success_rate: the share of the images the model got right before the attack that it gets wrong after.
print(smia.report.markdown(rows, {columns = {"accuracy", "success_rate", "linf", "var", "cos_positive"}}))
