RECIPE = {"task": "classification"}
