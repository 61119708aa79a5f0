workflow = ["not", "a", "workflow"]
