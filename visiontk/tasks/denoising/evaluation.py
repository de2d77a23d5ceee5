"""Denoising evaluation: PSNR / SSIM (tf.image, as the training metrics) of the noisy input and of
the model's output against the clean image, the gain in dB, MSE / MAE, and a PNG grid of samples
(noisy | denoised | clean, each labelled with its PSNR)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PSNR_CAP = 100.0     # dB; an exact copy has an infinite PSNR, which would swamp the mean


def image_scores(images, clean) -> tuple[np.ndarray, np.ndarray]:
    """(per-image PSNR in dB (capped at PSNR_CAP), per-image SSIM) of `images` against `clean`,
    both (N, H, W, C) in [0, 1].

    Example:
        >>> clean = np.full((1, 16, 16, 1), 0.5, np.float32)
        >>> p, s = image_scores(clean + 0.1, clean)      # MSE 0.01 -> 20 dB
        >>> round(float(p[0]), 3)
        20.0
    """
    from visiontk.tasks.denoising.metrics import psnr, ssim

    a, b = np.asarray(images, np.float32), np.asarray(clean, np.float32)
    p = np.minimum(np.asarray(psnr(b, a), np.float64), PSNR_CAP)
    return p, np.asarray(ssim(b, a), np.float64)


def denoising_report(predict_fn, batches, corrupt, noise: str, out_dir=None, samples: int = 8) -> dict:
    """Scores over unencoded (clean images, annotations) batches.

    Args:
        predict_fn: images -> reconstructed images.
        batches: iterable of (clean float images, annotations) numpy batches.
        corrupt: fn(clean batch, batch index) -> noisy batch (fixed per index), or None for a plain
            autoencoder (the input is the clean image; no input scores, no gain).
        noise: description recorded in the report.
    """
    from visiontk.progress import progress

    scores: dict[str, list] = {k: [] for k in ("psnr", "ssim", "psnr_noisy", "ssim_noisy")}
    se = ae = pixels = 0.0
    shown: list = []
    for i, (images, _ann) in enumerate(progress(batches, "evaluating")):
        clean = np.asarray(images, np.float32)
        noisy = np.asarray(corrupt(clean, i), np.float32) if corrupt is not None else clean
        out = np.asarray(predict_fn(noisy), np.float32).reshape(clean.shape)
        p, s = image_scores(out, clean)
        scores["psnr"].append(p)
        scores["ssim"].append(s)
        p_in = None
        if corrupt is not None:
            p_in, s_in = image_scores(noisy, clean)
            scores["psnr_noisy"].append(p_in)
            scores["ssim_noisy"].append(s_in)
        diff = out.astype(np.float64) - clean
        se += float((diff ** 2).sum())
        ae += float(np.abs(diff).sum())
        pixels += diff.size
        for j in range(len(clean)):
            if len(shown) < samples:
                shown.append((noisy[j], out[j], clean[j], None if p_in is None else p_in[j], p[j]))
    flat = {k: np.concatenate(v) if v else np.zeros(0) for k, v in scores.items()}
    n = int(len(flat["psnr"]))
    result = {"psnr": float(flat["psnr"].mean()) if n else 0.0,
              "ssim": float(flat["ssim"].mean()) if n else 0.0,
              "mse": se / max(pixels, 1.0), "mae": ae / max(pixels, 1.0), "noise": noise, "samples": n}
    if corrupt is not None and n:
        result["psnr_noisy"] = float(flat["psnr_noisy"].mean())
        result["ssim_noisy"] = float(flat["ssim_noisy"].mean())
        result["psnr_gain_db"] = result["psnr"] - result["psnr_noisy"]
        result["ssim_gain"] = result["ssim"] - result["ssim_noisy"]
    if out_dir is not None and shown:
        result["grid_png"] = str(write_grid(shown, Path(out_dir) / "denoising_samples.png",
                                            noisy=corrupt is not None))
    return result


def write_grid(shown, path: Path, noisy: bool = True) -> Path:
    """Rows of (noisy | denoised | clean), upscaled for small inputs, labelled with PSNR in dB."""
    import cv2

    from visiontk.io import atomic_path
    from visiontk.runtime.denoising import to_bgr, to_uint8
    from visiontk.runtime.draw import label

    rows = []
    for x, y, clean, p_in, p_out in shown:
        h, w = clean.shape[:2]
        scale = max(1, 160 // max(h, w))
        panels = []
        names = (f"noisy {p_in:.1f} dB" if noisy else "input", f"output {p_out:.1f} dB", "clean")
        for img, text in zip((x, y, clean), names):
            big = cv2.resize(to_bgr(to_uint8(img)), (w * scale, h * scale),
                             interpolation=cv2.INTER_NEAREST)
            label(big, text, (2, big.shape[0] - 18), scale=0.4)
            panels.append(big)
        row = np.concatenate([np.pad(p, ((1, 1), (1, 1), (0, 0))) for p in panels], axis=1)
        rows.append(row)
    grid = np.concatenate(rows, axis=0)
    with atomic_path(path) as tmp:
        cv2.imwrite(str(tmp), grid)
    return path
