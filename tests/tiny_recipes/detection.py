"""Grid detection: LeNet-5's S4 map (5 x 5) resized to a 4 x 4 grid, 2 boxes per cell, on 32 x 32
synthetic scenes."""

RECIPE = {
    "task": "detection",
    "model": {"feature": "S4", "head": {"grid": 4, "boxes_per_cell": 2, "convs": 1, "filters": 16}},
    "data": {"params": {"train_size": 32, "val_size": 16, "max_objects": 3},
             "augment": {"flip": "horizontal", "translate": 0.1}},
}
