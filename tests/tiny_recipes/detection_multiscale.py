"""Multi-scale detection: a narrow ResNet-18's stride 8/16/32 maps, FPN + PAN neck, anchor-free head,
on 64 x 64 synthetic scenes (A = 8*8 + 4*4 + 2*2 = 84 anchors)."""

RECIPE = {
    "task": "detection",
    "model": {"backbone": {"name": "resnet18", "weights": "none", "params": {"widths": [8, 16, 32, 64]}},
              "input_shape": [64, 64, 3],
              "head": {"type": "multiscale", "neck_filters": 16, "filters": 16, "convs": 1}},
    "data": {"params": {"train_size": 32, "val_size": 16, "max_objects": 3},
             "augment": {"flip": "horizontal", "translate": 0.1}},
}
