"""Single-object localization: box (cx, cy, w, h) + class from LeNet-5 on 32 x 32 scenes."""

RECIPE = {
    "task": "localization",
    "model": {"head": {"hidden": 32, "filters": 8}},
    "data": {"params": {"train_size": 32, "val_size": 16, "max_objects": 1},
             "augment": {"flip": "horizontal"}},
}
