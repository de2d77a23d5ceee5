"""Pinned parameter counts of the keras.applications backbones (visiontk/architectures/applications.py).

PINS (include_top=True, 7 classes, at the entry's small input; CI tier `full` only): the Keras
network with its own top. MobileNetV2: 2,257,984 + 1280 * 7 + 7 = 2,266,951. VGG16 (Keras' Flatten +
fc1 4096 + fc2 4096 at 32x32, so fc1 sees 512 inputs): 14,714,688 + 2,101,248 + 16,781,312 + 28,679
= 33,625,927.

FEATURE_PINS (include_top=False, every entry): equal to keras.applications.<Class>(include_top=False,
weights=None).count_params(): the `preprocess` Rescaling layer in front has no weights, and the
feature maps are taken inside the Keras graph.
"""

PINS = {
    "mobilenet_v2": 2266951,
    "keras_vgg16": 33625927,
}

FEATURE_PINS = {
    "mobilenet_v2": 2257984,
    "mobilenet_v3_small": 939120,
    "mobilenet_v3_large": 2996352,
    "efficientnet_b0": 4049571,
    "efficientnet_b1": 6575239,
    "efficientnet_b2": 7768569,
    "efficientnet_b3": 10783535,
    "efficientnet_v2_b0": 5919312,
    "efficientnet_v2_b1": 6931124,
    "efficientnet_v2_b2": 8769374,
    "efficientnet_v2_b3": 12930622,
    "efficientnet_v2_s": 20331360,
    "resnet50_v2": 23564800,
    "resnet101_v2": 42626560,
    "resnet152_v2": 58331648,
    "keras_resnet50": 23587712,
    "keras_vgg16": 14714688,
    "keras_vgg19": 20024384,
    "keras_inception_v3": 21802784,
    "xception": 20861480,
    "densenet121": 7037504,
    "convnext_tiny": 27820128,
}
