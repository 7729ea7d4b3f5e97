import KDCore
print("kd-tool")
