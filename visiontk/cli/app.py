"""The click group and the error boundary: VisionTKError -> one line on stderr, exit code 2."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import traceback
from pathlib import Path
from typing import NoReturn

import click

from visiontk.errors import VisionTKError
from visiontk.io import write_problem
from visiontk.runtime.errors import InputError
from visiontk.version import __version__

STATE = {"debug": False}


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(__version__, prog_name="visiontk")   # visiontk/version.py: no install needed
def cli(debug: bool) -> None:
    """visiontk: classic CNNs, task heads, YAML recipes, verified exports and OpenCV demos.

    \b
    Examples:
      visiontk recipes list
      visiontk train detect
      visiontk train recipes/detect.yaml
      visiontk train recipes/classify.yaml train.epochs=3 --dry-run
      visiontk evaluate runs/classify --split val
      visiontk predict runs/classify image.png --out preds/
    """
    STATE["debug"] = debug


def fail(message: str) -> "NoReturn":  # noqa: F821
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def click_error_line(exc: click.ClickException, argv: list) -> str:
    """A click usage error (missing argument, unknown option or command) as one line, with the
    command whose --help tells the right usage; click's own block is four lines."""
    message = " ".join(exc.format_message().split())
    if isinstance(exc, click.UsageError):
        ctx = getattr(exc, "ctx", None)
        message += f" (see {ctx.command_path if ctx else command_path(argv)} --help)"
    return message


def command_path(argv: list) -> str:
    """'visiontk arch show' from the arguments (for errors click raises without a context)."""
    words, group = ["visiontk"], cli
    for arg in argv:
        if arg.startswith("-"):
            continue
        sub = group.commands.get(arg) if isinstance(group, click.Group) else None
        if sub is None:
            break
        words.append(arg)
        group = sub
    return " ".join(words)


_loaded = False


def load_commands() -> None:
    """Import every command module of this package (each attaches its commands to `cli`)."""
    global _loaded
    if _loaded:
        return
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name != "app" and not info.name.startswith("_"):
            importlib.import_module(f"visiontk.cli.{info.name}")
    _loaded = True


def main(argv=None) -> None:
    """Console entry point."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")      # keep TensorFlow's C++ logs out of the way
    argv = list(sys.argv[1:] if argv is None else argv)
    STATE["debug"] = "--debug" in argv
    if not STATE["debug"]:
        from visiontk.cli import quiet_import

        quiet_import.install()
    load_commands()
    try:
        cli.main(args=argv, prog_name="visiontk", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):   # click turns Ctrl-C into Abort
        click.echo(interrupted_line(argv), err=True)
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as exc:     # `visiontk` / `visiontk arch` alone: help
        exc.show()
        sys.exit(2)
    except click.ClickException as exc:
        fail(click_error_line(exc, argv))
    except (VisionTKError, InputError) as exc:
        if STATE["debug"]:
            traceback.print_exc()                       # then the same line and exit code 2
        fail(str(exc).replace("\n", " "))
    except OSError as exc:           # a write that failed outside visiontk's own write points
        if STATE["debug"] or write_problem(exc) is None:
            unexpected(exc)
        where = exc.filename or "a file (rerun with --debug to see which)"
        fail(f"cannot access {where}: {write_problem(exc)}")
    except Exception as exc:  # a bug or an unexpected library error: still one line
        unexpected(exc)


def unexpected(exc: Exception) -> "NoReturn":  # noqa: F821
    """A bug or an unexpected library error: still one line (the traceback with --debug)."""
    if STATE["debug"]:
        raise exc
    msg = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    fail(f"{type(exc).__name__}: {msg} (rerun with --debug for the traceback)")


RESUMING = ("train", "launch")


def interrupted_line(argv: list) -> str:
    """What Ctrl-C leaves: a training resumes from its last saved epoch when the same command runs
    again (its backup is written atomically at each epoch end); other commands start over."""
    words = command_path(argv).split()[1:]
    if words[:1] and words[0] in RESUMING and "--dry-run" not in argv:
        return ("interrupted: rerun the same command to resume from the last saved epoch "
                "(nothing finished is lost)")
    return "interrupted: rerun the same command to start over"
