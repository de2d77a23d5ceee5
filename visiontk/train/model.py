"""Backbone + task head -> the Keras model of a recipe."""

from __future__ import annotations

from visiontk.architectures._from_recipe import build_backbone

__all__ = ["build_backbone", "build_model"]


def build_model(recipe, task):
    """The full trainable model: backbone (nested, named 'backbone') + the task's head."""
    backbone = build_backbone(recipe)
    return task.build(backbone, recipe.train.regularization.dropout)
