"""Denoising CNN autoencoder (Conv2DTranspose decoder) on 32 x 32 synthetic scenes, Gaussian noise."""

RECIPE = {"task": "denoising",
          "model": {"backbone": {"name": "autoencoder_cnn", "params": {"filters": [8, 16]}},
                    "head": {"noise": "gaussian", "sigma": 0.2, "samples": 4}}}
