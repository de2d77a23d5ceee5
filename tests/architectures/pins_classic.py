"""Pinned parameter counts of the classic nets at their registry `small_input`, 7 classes, full widths.

AlexNet at 64x64 (ceil-mode pools leave pool5 1x1x256): convs 3,747,200 (the seed's table) +
fc6 256*4096+4096 + fc7 16,781,312 + fc8 4097*7 = 21,609,863; ZFNet: conv1 7*7*3*96+96 = 14,208
instead of 34,944 -> 21,589,127. VGG at 32x32 (pool5 1x1x512): D = convs 14,714,688 + fc1 2,101,248
+ fc2 16,781,312 + 4097*7 = 33,625,927; the others differ by their convs only. SqueezeNet: the
torchvision counts less conv10's 1000 classes (513,000) plus 7 (3,591). Inception v3 at 75x75:
23,851,784 - 2049*1000 + 2049*7 = 21,817,127.
"""

PINS = {
    "alexnet": 21609863,
    "zfnet": 21589127,
    "vgg_a": 28131719,
    "vgg_a_lrn": 28131719,
    "vgg_b": 28316231,
    "vgg_c": 28907335,
    "vgg_d": 33625927,
    "vgg_e": 38935623,
    "squeezenet1_0": 739015,
    "squeezenet1_1": 726087,
    "inception_v3": 21817127,
}
