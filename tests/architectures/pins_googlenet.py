"""Pinned parameter count of GoogLeNet at the shared test's input (32x32x3, 7 classes).

The network is input-size independent up to the classifier (global average pooling): the 6,998,552
of the 1000-class network (tests/architectures/test_googlenet.py counts it module by module) minus its
linear layer (1024 * 1000 + 1000) plus 1024 * 7 + 7 = 5,980,727.
"""

PINS = {
    "googlenet": 6_998_552 - 1_025_000 + 1024 * 7 + 7,
}
