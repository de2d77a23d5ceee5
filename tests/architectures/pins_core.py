"""Pinned parameter counts at the small test input (32x32x3, 7 classes): LeNet-5, MLP and ResNet.

LeNet-5 by hand: 456 + 2,416 + 48,120 + 10,164 + 85*7 = 61,751. ResNet18 equals torchvision's
11,689,512 with the 1000-class FC swapped for 7 classes (-513*993) plus Keras' counting of the
batch-norm moving mean and variance (+2 per channel, 4,800 channels): 11,189,703.
MLP (512, 256) by hand: 3072*512 + 512 + 512*256 + 256 + 256*7 + 7 = 1,706,503.
"""

PINS = {
    "lenet5": 61751,
    "mlp": 1706503,
    "resnet18": 11189703,
    "resnet34": 21305287,
    "resnet50": 23575495,
    "resnet101": 42619847,
    "resnet152": 58309575,
}
