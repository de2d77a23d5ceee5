RECIPE = {"task": "segmentation",
          "model": {"backbone": {"name": "unet", "params": {"padding": "same", "depth": 2, "base_width": 4,
                                                             "batch_norm": True}}},
          "data": {"params": {"max_objects": 2}}}
