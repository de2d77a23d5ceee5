"""Pinned parameter counts of the dense-prediction family at the shared test's input, 7 classes.

U-Net (small_input 188x188x3, the smallest valid-padding input of depth 4; default width 64): the
31,030,658 of the paper's 1-channel, 2-class network (counted by hand in tests/dense/test_unet.py)
+ 2 * 9 * 64 for the two extra input channels + 5 * 65 for five more classes = 31,032,135.
Autoencoders at 32x32x3 (num_classes is ignored: the output is the input's shape):
MLP 3072-512-256-64-256-512-3072: 1,573,376 + 131,328 + 16,448 + 16,640 + 131,584 + 1,575,936
= 3,445,312. CNN (32, 64): 896 + 18,496 + code 36,928 + 36,928 + 18,464 + output 867 = 112,579.
"""

PINS = {
    "unet": 31032135,
    "autoencoder_mlp": 3445312,
    "autoencoder_cnn": 112579,
}
