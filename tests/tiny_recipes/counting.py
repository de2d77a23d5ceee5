RECIPE = {"task": "counting", "data": {"params": {"min_objects": 0, "max_objects": 3}}}
