"""U-Net builder: the paper's valid form (572 -> 388, parameters counted by hand), the same-padding
form, both decoders, size errors and the named features."""

import numpy as np
import pytest

from visiontk.architectures.unet import build_unet, valid_input_sizes, valid_output_size


def conv(i, o, k=3):
    return k * k * i * o + o


def paper_params(in_ch=1, classes=2, base=64, depth=4):
    widths = [base * 2 ** i for i in range(depth + 1)]
    total, prev = 0, in_ch
    for w in widths:                                  # two 3x3 convs per level and the bottleneck
        total += conv(prev, w) + conv(w, w)
        prev = w
    for w in reversed(widths[:-1]):                   # up-conv 2x2, then two 3x3 convs on the concat
        total += conv(2 * w, w, 2) + conv(2 * w, w) + conv(w, w)
    return total + conv(base, classes, 1)


def test_paper_form_572_to_388_with_hand_counted_parameters():
    model = build_unet((572, 572, 1), num_classes=2)
    assert model.output_shape == (None, 388, 388, 2)
    assert model.count_params() == paper_params() == 31_030_658


@pytest.mark.parametrize("decoder", ["transpose", "upsample"])
def test_same_form_keeps_the_size_and_both_decoders_count_alike(decoder):
    model = build_unet((64, 48, 3), num_classes=3, padding="same", depth=3, base_width=8, decoder=decoder)
    assert model.output_shape == (None, 64, 48, 3)
    assert model.count_params() == paper_params(3, 3, 8, 3)
    y = np.asarray(model(np.random.default_rng(0).random((1, 64, 48, 3), np.float32)))
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)


def test_valid_sizes_helpers():
    assert valid_output_size(572) == 388
    assert valid_output_size(571) is None
    assert valid_output_size(32, depth=1) == 16
    assert valid_input_sizes(100) == [188, 204]
    assert all(valid_output_size(s) for s in valid_input_sizes(300, count=4))


def test_wrong_sizes_are_refused_with_the_nearest_working_ones():
    with pytest.raises(ValueError, match="sizes that work near it: 188, 204"):
        build_unet((100, 100, 3))
    with pytest.raises(ValueError, match="divisible by 16"):
        build_unet((40, 40, 3), padding="same")


def test_features_are_named_shallow_to_deep_with_a_full_resolution_decoder():
    feats = build_unet((32, 32, 3), include_top=False, padding="same", depth=2, base_width=4).output
    assert list(feats) == ["enc1", "enc2", "bottleneck", "decoder"]
    assert tuple(feats["decoder"].shape) == (None, 32, 32, 4)
    assert tuple(feats["bottleneck"].shape) == (None, 8, 8, 16)
