"""visiontk embed / enroll / identify / verify: one-shot recognition with an embedding model."""

from __future__ import annotations

import json

import click

from visiontk.cli.app import cli

_BACKEND = click.option("--backend", default="auto", show_default=True,
                        help="keras | saved_model | onnx | tflite (auto: onnx for exports, else keras).")
_THRESHOLD = click.option("--threshold", type=float, default=None,
                          help="Distance past which images differ / a face is unknown (default: the "
                               "recipe's model.head.threshold, else the one measured at evaluation).")


@cli.command("embed")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="The npz to write (files, embeddings, model fingerprint).")
@_BACKEND
def embed_cmd(run_dir, images, out, backend):
    """Embed IMAGES with the embedding model of RUN_DIR into an npz file.

    \b
    Example:
      visiontk embed runs/siamese shirt1.png shirt2.png --out emb.npz
    """
    from visiontk.infer.gallery import embed_to_file

    click.echo(json.dumps(embed_to_file(run_dir, list(images), out, backend)))


@cli.command("enroll")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--gallery", required=True, type=click.Path(dir_okay=False),
              help="Gallery npz (created when missing).")
@click.option("--name", required=True, help="The identity the images show.")
@_BACKEND
def enroll_cmd(run_dir, images, gallery, name, backend):
    """Enrol IMAGES (one is enough) under NAME in a gallery.

    \b
    Example:
      visiontk enroll runs/siamese --gallery people.npz --name ann ann.jpg
    """
    from visiontk.infer.gallery import enroll

    click.echo(json.dumps(enroll(run_dir, gallery, name, list(images), backend)))


@cli.command("identify")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--gallery", required=True, type=click.Path(dir_okay=False), help="Gallery npz.")
@_THRESHOLD
@_BACKEND
def identify_cmd(run_dir, images, gallery, threshold, backend):
    """Name the nearest enrolled identity of each image (or "unknown" past the threshold); one JSON
    line per image with the distance.

    \b
    Example:
      visiontk identify runs/siamese --gallery people.npz who.jpg
    """
    from visiontk.infer.gallery import identify_files

    rows = identify_files(run_dir, gallery, list(images), threshold=threshold, backend=backend)
    if rows and rows[0]["threshold"] is None:
        click.echo("note: no threshold (run `visiontk evaluate RUN_DIR` or pass --threshold): "
                   "every image gets its nearest identity", err=True)
    for row in rows:
        click.echo(json.dumps(row))


@cli.command("verify")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("image_a", type=click.Path(dir_okay=False))
@click.argument("image_b", type=click.Path(dir_okay=False))
@_THRESHOLD
@_BACKEND
def verify_cmd(run_dir, image_a, image_b, threshold, backend):
    """Do IMAGE_A and IMAGE_B show the same identity? Prints the distance and the decision.

    \b
    Example:
      visiontk verify runs/siamese ann1.jpg ann2.jpg
    """
    from visiontk.infer.gallery import verify_files

    click.echo(json.dumps(verify_files(run_dir, image_a, image_b, threshold=threshold,
                                       backend=backend)))
