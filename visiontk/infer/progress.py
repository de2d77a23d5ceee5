"""Progress bars for long steps: rich on a terminal, silent (log-friendly) otherwise (CI, pipes)."""

from __future__ import annotations

import os
import sys
from typing import Iterable, Iterator, Optional


def interactive() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


def progress(items: Iterable, description: str, total: Optional[int] = None) -> Iterator:
    """Iterate `items` with a progress bar when stderr is a terminal."""
    if not interactive():
        yield from items
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if total is None and hasattr(items, "__len__"):
        try:
            total = len(items)
        except TypeError:
            total = None
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)
