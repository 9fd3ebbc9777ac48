print("softrl")
