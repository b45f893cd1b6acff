print("smia-lua")
