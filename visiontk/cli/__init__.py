"""Command line: `visiontk <command>`. One module per command group, each thin over the API."""

from visiontk.cli.app import cli, load_commands, main

__all__ = ["cli", "main", "load_commands"]
