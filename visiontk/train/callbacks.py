"""Callbacks of a run: history CSV + curves.png, best/last weights, resumable backups, and the stop
on a loss that is no longer finite."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import time
from pathlib import Path

import keras
import numpy as np

from visiontk.errors import RunError
from visiontk.io import atomic_path, check_free_space, naming_path, read_json, write_json, write_text


class TrainingDiverged(RunError):
    """The training loss became NaN or infinite: the run stops and is not marked finished."""


def check_finite_loss(logs, *, epoch: int, step: int, run_dir, learning_rate) -> None:
    """Raise TrainingDiverged when `logs["loss"]` is NaN or infinite (Keras' TerminateOnNaN stops at
    the epoch's end instead, after which the NaN weights would be saved and the run marked finished)."""
    loss = (logs or {}).get("loss")
    if loss is None:
        return
    value = float(np.asarray(loss))
    if math.isfinite(value):
        return
    raise TrainingDiverged(
        f"training diverged: the loss is {value} at epoch {epoch + 1}, step {step + 1}; stopped, and "
        f"{run_dir} is not marked finished (no model.keras, no metrics.json). Lower "
        f"train.optimizer.learning_rate (now {learning_rate:g}) or look for extreme values in the "
        f"data, then train again (the changed recipe trains into a new folder; --force starts over "
        f"in {run_dir})")


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops `model.fit` at the first training step whose loss is NaN or infinite, before any epoch
    end could save its weights (check_finite_loss). Safe for Keras' asynchronous batch callbacks: an
    error raised there surfaces at the next step or, at the latest, before the epoch-end callbacks."""

    async_safe = True

    def __init__(self, run_dir, learning_rate: float):
        super().__init__()
        self.run_dir, self.learning_rate, self.epoch = run_dir, learning_rate, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        check_finite_loss(logs, epoch=self.epoch, step=batch, run_dir=self.run_dir,
                          learning_rate=self.learning_rate)


def save_weights(model, path, name=None) -> None:
    """model.save_weights(path) once the disk has room for it (visiontk.io.check_free_space); `name`:
    the file as a user knows it (`path` may be a temporary name beside it)."""
    size = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in model.weights)
    check_free_space(name or path, size + 4096 * len(model.weights) + (1 << 16))  # + HDF5 records
    model.save_weights(str(path))


class History(keras.callbacks.Callback):
    """history.csv (one row per epoch, rewritten atomically) and curves.png.

    curves.png is redrawn at an epoch's end only when at least `PLOT_EVERY` x the last drawing's
    time has passed since it (drawing takes ~0.5 s: on short epochs it would be a large share of
    the run; benchmarks/train_overhead.py), and always at the end of training.
    """

    PLOT_EVERY = 20           # curves.png costs at most ~1/20 of the wall time

    def __init__(self, run_dir: Path, plot: bool = True):
        super().__init__()
        self.csv_path = Path(run_dir) / "history.csv"
        self.png_path = Path(run_dir) / "curves.png"
        self.plot = plot
        self.rows: dict[int, dict] = {}
        self._plotted_at, self._plot_seconds, self._stale = -math.inf, 0.0, False

    def load(self, initial_epoch: int) -> None:
        """Keep rows of the epochs before `initial_epoch` (a resumed run)."""
        if self.csv_path.exists():
            with open(self.csv_path, newline="") as f:
                for row in csv.DictReader(f):
                    e = int(row.pop("epoch"))
                    if e < initial_epoch:
                        self.rows[e] = {k: float(v) for k, v in row.items() if v not in ("", None)}

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        lr = self.model.optimizer.learning_rate
        logs["learning_rate"] = float(np.asarray(lr))
        self.rows[epoch] = {k: float(np.asarray(v)) for k, v in logs.items()}
        keys = sorted({k for r in self.rows.values() for k in r})
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["epoch"] + keys)
        for e in sorted(self.rows):
            w.writerow([e] + [self.rows[e].get(k, "") for k in keys])
        write_text(self.csv_path, buf.getvalue())
        self._stale = True
        if self.plot and time.perf_counter() - self._plotted_at >= self.PLOT_EVERY * self._plot_seconds:
            self._draw()

    def on_train_end(self, logs=None):
        if self.plot and self._stale:
            self._draw()

    def _draw(self) -> None:
        t0 = time.perf_counter()
        plot_curves(self.rows, self.png_path)
        self._plotted_at = time.perf_counter()
        self._plot_seconds, self._stale = self._plotted_at - t0, False


def plot_curves(rows: dict[int, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = sorted(rows)
    names = sorted({k.removeprefix("val_") for r in rows.values() for k in r}
                   - {"learning_rate", "epoch_seconds"})
    if not names:
        return
    cols = min(3, len(names))
    nrows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for prefix, style in (("", "-"), ("val_", "--")):
            ys = [rows[e].get(prefix + name, np.nan) for e in epochs]
            if not all(np.isnan(ys)):
                ax.plot([e + 1 for e in epochs], ys, style, marker="o", ms=3,
                        label="val" if prefix else "train")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


class EpochTensorBoard(keras.callbacks.TensorBoard):
    """TensorBoard with epoch summaries only. Keras' own writes a `batch_<metric>` scalar after every
    training batch even with update_freq="epoch": ~1 ms a step, 10 % of a LeNet-5 step here."""

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1

    def on_train_batch_end(self, batch, logs=None):
        pass


class BestLast(keras.callbacks.Callback):
    """checkpoints/last.weights.h5 every epoch; best.weights.h5 when `monitor` improves (a copy of
    the file just written: the same weights, without serialising the model a second time).
    `monitor="last"` makes every epoch the best: the run's model is its last epoch (for a schedule
    that decays to the end, or a validation metric too noisy to choose an epoch by)."""

    def __init__(self, ckpt_dir: Path, monitor: str, mode: str):
        super().__init__()
        self.dir = Path(ckpt_dir)
        self.monitor = monitor
        self.mode = mode
        self.best = -np.inf if mode == "max" else np.inf
        self.best_epoch = -1
        self.last_epoch = -1           # the epoch whose weights last.weights.h5 holds

    def improved(self, value) -> bool:
        return value > self.best if self.mode == "max" else value < self.best

    def on_epoch_end(self, epoch, logs=None):
        self.dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.dir / "last.weights.h5") as tmp:
            save_weights(self.model, tmp, self.dir / "last.weights.h5")
        self.last_epoch = epoch
        value = epoch if self.monitor == "last" else (logs or {}).get(self.monitor)
        if value is not None and self.improved(float(value)):
            self.best, self.best_epoch = float(value), epoch
            with atomic_path(self.dir / "best.weights.h5") as tmp:
                shutil.copyfile(self.dir / "last.weights.h5", tmp)
            write_json(self.dir / "best.json", {"monitor": self.monitor, "value": self.reported,
                                                "epoch": epoch + 1})

    @property
    def reported(self):
        """The best value as shown in best.json / metrics.json (none for `last`: it is an epoch)."""
        if self.best_epoch < 0 or self.monitor == "last":
            return None
        return self.best

    def state(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def set_state(self, s: dict) -> None:
        self.best, self.best_epoch = s["best"], s["best_epoch"]


class Backup(keras.callbacks.Callback):
    """Resumable state at every epoch end: model weights, optimizer variables (moments, step count,
    learning rate) and the state of the other stateful callbacks, written to a new folder that is
    renamed into place, so a crash at any moment leaves the previous complete backup.

    Keras' own BackupAndRestore keeps model weights only (a resumed run restarts its optimizer
    moments and learning-rate schedule); this one resumes exactly.
    """

    def __init__(self, backup_dir: Path, stateful: dict | None = None, *, read_from: Path | None = None,
                 write: bool = True, last: "BestLast | None" = None):
        super().__init__()
        self.dir = Path(backup_dir)
        self.read_dir = Path(read_from) if read_from is not None else self.dir
        self.write = write                      # False on non-chief workers: they only restore
        self.stateful = stateful or {}
        # a BestLast that runs before this callback: when it has written this epoch's weights,
        # they are copied rather than serialised again (~0.35 s an epoch for a ResNet18)
        self.last = last

    @property
    def latest(self) -> Path | None:
        """The newest complete backup folder (named in latest.json, written last and atomically)."""
        pointer = self.read_dir / "latest.json"
        if not pointer.is_file():
            return None
        folder = self.read_dir / read_json(pointer)["folder"]
        return folder if (folder / "state.json").is_file() else None

    def exists(self) -> bool:
        return self.latest is not None

    def restore(self, model) -> int:
        """Load the backup into `model` (optimizer must be built) and return the epoch to start."""
        latest = self.latest
        state = read_json(latest / "state.json")
        model.load_weights(str(latest / "model.weights.h5"))
        opt_vars = model.optimizer.variables
        saved = np.load(latest / "optimizer.npz")
        if len(saved.files) != len(opt_vars):
            raise RuntimeError(f"backup has {len(saved.files)} optimizer variables, model has "
                               f"{len(opt_vars)}")
        for i, v in enumerate(opt_vars):
            v.assign(saved[f"v{i}"])
        self._pending = state.get("callbacks", {})
        return int(state["epoch"])

    def on_train_begin(self, logs=None):
        # other callbacks reset their state in their own on_train_begin; this one runs last
        for name, values in getattr(self, "_pending", {}).items():
            cb = self.stateful.get(name)
            if cb is None:
                continue
            if hasattr(cb, "set_state"):
                cb.set_state(values)
            else:
                for k, v in values.items():
                    setattr(cb, k, v)

    def on_epoch_end(self, epoch, logs=None):
        if not self.write:
            return
        folder = self.dir / f"epoch_{epoch + 1:04d}"
        with naming_path(folder):
            self._write(folder, epoch)

    def _write(self, folder: Path, epoch: int) -> None:
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        if self.last is not None and self.last.last_epoch == epoch:
            shutil.copyfile(self.last.dir / "last.weights.h5", folder / "model.weights.h5")
        else:
            save_weights(self.model, folder / "model.weights.h5")
        np.savez(folder / "optimizer.npz",
                 **{f"v{i}": np.asarray(v) for i, v in enumerate(self.model.optimizer.variables)})
        callbacks = {}
        for name, cb in self.stateful.items():
            if hasattr(cb, "state"):
                callbacks[name] = cb.state()
            else:
                callbacks[name] = {k: _plain(getattr(cb, k)) for k in
                                   ("wait", "best", "best_epoch", "stopped_epoch", "cooldown_counter")
                                   if hasattr(cb, k)}
        (folder / "state.json").write_text(json.dumps({"epoch": epoch + 1, "callbacks": callbacks}))
        write_json(self.dir / "latest.json", {"folder": folder.name})   # the commit point
        for old in self.dir.glob("epoch_*"):
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)

    def remove(self) -> None:
        if self.write:
            shutil.rmtree(self.dir, ignore_errors=True)


def _plain(v):
    if isinstance(v, (np.generic, np.ndarray)):
        return np.asarray(v).item()
    return v
