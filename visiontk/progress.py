"""Progress for long steps: rich on a terminal, silent (log-friendly) otherwise (CI, pipes).

Displays go to stderr, so that stdout (JSON lines of predict, a summary) stays clean when piped.
Three shapes:

- `progress(items, ...)`: wrap an iterable (evaluation batches, generated scenes);
- `counting(...)`: a hot loop (the demo's frames) only does `counter.n += 1`; the display reads the
  count from rich's own refresh thread, so a frame costs nothing more;
- `stages(...)`: a few named slow steps (export: each format written, then verification).
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Optional


def interactive() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


def _options(console=None) -> dict:
    """Transient, on stderr; stdout prints are routed above the bar only when stdout is a terminal
    too (a piped stdout is left alone)."""
    from rich.console import Console

    return dict(console=console or Console(stderr=True), transient=True,
                redirect_stdout=sys.stdout.isatty(), redirect_stderr=True)


def _bar(*columns, console=None):
    from rich.progress import Progress

    return Progress(*columns, **_options(console))


def progress(items: Iterable, description: str, total: Optional[int] = None) -> Iterator:
    """Iterate `items` with a progress bar when stderr is a terminal."""
    if not interactive():
        yield from items
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    if total is None and hasattr(items, "__len__"):
        try:
            total = len(items)
        except TypeError:
            total = None
    with _bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
              TimeElapsedColumn()) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)


class Counter:
    """What a hot loop advances: a plain attribute, no lock, no call."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


def polled_bar(counter: Counter, description: str, total: Optional[int], console=None):
    """A rich Progress whose one task shows `counter.n`, read at each refresh (in rich's thread)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    class Polled(Progress):
        def get_renderables(self):
            for task_id in self.task_ids:               # none yet while rich sets itself up
                self.update(task_id, completed=counter.n)
            yield from super().get_renderables()

    bar = Polled(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                 TimeElapsedColumn(), refresh_per_second=4, **_options(console))  # GIL: rarely
    bar.add_task(description, total=total)
    return bar


@contextmanager
def counting(description: str, total: Optional[int] = None) -> Iterator[Counter]:
    """A Counter for a hot loop; shown as `description n/total` on a terminal, silent otherwise.

    Example:
        >>> with counting("frames", total=3) as c:
        ...     for _ in range(3):
        ...         c.n += 1
    """
    counter = Counter()
    if not interactive():
        yield counter
        return
    with polled_bar(counter, description, total):
        yield counter


@contextmanager
def stages(description: str, total: int) -> Iterator[Callable[[str], None]]:
    """Named slow steps: yields `begin(name)`, which shows `description: name` with the steps done so
    far; silent (begin does nothing) when not on a terminal.

    Example:
        >>> with stages("exporting", 2) as begin:
        ...     begin("ONNX"); begin("verifying")
    """
    if not interactive():
        yield lambda name: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn

    with _bar(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
              TimeElapsedColumn()) as bar:
        task = bar.add_task(description, total=total)
        started = [False]

        def begin(name: str) -> None:
            bar.update(task, description=f"{description}: {name}", advance=1 if started[0] else 0)
            started[0] = True

        yield begin
        bar.update(task, completed=total)
