"""Which Keras dtype policy a run trains under (`train.mixed_precision`), and why. TensorFlow-free:
the caller probes the GPUs it trains on; this module reads only the CPU's flags.

`auto` picks what is fast on the hardware that trains: `mixed_bfloat16` on CPUs with AMX-BF16 or
AVX512-BF16 (oneDNN runs bfloat16 matmuls and convolutions natively there, measured 2.5-4x the
float32 rate on AMX), `mixed_float16` on GPUs of compute capability 7.0 or more (tensor cores), and
`float32` elsewhere: on an AVX2-only CPU bfloat16 is emulated and slower than float32, and float16 on
a CPU always is. An explicit value in the recipe wins.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

POLICIES = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
BF16_FLAGS = ("amx_bf16", "avx512_bf16")        # /proc/cpuinfo names, fastest first
MIN_FLOAT16_CAPABILITY = (7, 0)                 # Volta: the first GPUs with float16 tensor cores
_READ = object()                                 # choose(): read this machine's CPU flags


@dataclass(frozen=True)
class Precision:
    """The policy a run trains under and a short reason, e.g. "auto: float32 (CPU has no bfloat16
    instructions: AVX2 only)"."""

    policy: str
    why: str

    @property
    def mixed(self) -> bool:
        return self.policy != "float32"

    def as_meta(self) -> dict:
        """meta.json's "precision" entry."""
        return {"policy": self.policy, "why": self.why}


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> Optional[frozenset]:
    """The CPU's feature flags (the `flags` line of /proc/cpuinfo on x86 Linux, `Features` on ARM),
    or None where they cannot be read (another OS, no such file or line)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("flags", "Features"):     # every core lists the same flags
            return frozenset(value.split())
    return None


def _no_bf16(flags: frozenset) -> str:
    """What the CPU offers instead, for the reason line."""
    if "avx512f" in flags:
        return "AVX-512 without BF16"
    if "avx2" in flags:
        return "AVX2 only"
    if "sse2" in flags:
        return "no AVX2"
    return "no AMX-BF16 or AVX512-BF16"


def _cpu_choice(flags: Optional[frozenset]) -> Precision:
    if flags is None:
        where = "macOS: TensorFlow has no bfloat16 fast path there" if sys.platform == "darwin" else \
            "CPU flags unreadable"
        return Precision("float32", f"auto: float32 ({where})")
    have = [f for f in BF16_FLAGS if f in flags]
    if have:
        return Precision("mixed_bfloat16", f"auto: mixed_bfloat16 (CPU has {', '.join(have)})")
    return Precision("float32", f"auto: float32 (CPU has no bfloat16 instructions: {_no_bf16(flags)})")


def _gpu_choice(capabilities: Sequence) -> Precision:
    known = [tuple(c) for c in capabilities if c]
    if len(known) < len(capabilities):
        return Precision("float32", "auto: float32 (GPU compute capability unknown)")
    lowest = min(known)
    cc = ".".join(map(str, lowest))
    if lowest >= MIN_FLOAT16_CAPABILITY:
        return Precision("mixed_float16", f"auto: mixed_float16 (GPU compute capability {cc})")
    return Precision("float32", f"auto: float32 (GPU compute capability {cc} < 7.0: no float16 "
                                f"tensor cores)")


def choose(requested: Optional[str], *, gpus: Sequence = (), tpu: bool = False,
           flags=_READ) -> Precision:
    """The policy for `train.mixed_precision` (None means auto) on this machine.

    Args:
        requested: the recipe's value: auto (or None), float32, mixed_bfloat16, mixed_float16.
        gpus: compute capabilities (major, minor) of the GPUs training runs on (None where unknown);
            empty when it runs on the CPU.
        tpu: training runs on a TPU (bfloat16 is its native format).
        flags: the CPU flags (a set, or None: unreadable); default: read from this machine.

    Example:
        >>> choose("auto", flags={"avx2", "fma"}).why
        'auto: float32 (CPU has no bfloat16 instructions: AVX2 only)'
        >>> choose("auto", gpus=[(8, 0)]).policy
        'mixed_float16'
    """
    if requested not in (None, "auto"):
        return Precision(requested, f"{requested} (set in the recipe)")
    if tpu:
        return Precision("mixed_bfloat16", "auto: mixed_bfloat16 (TPU)")
    if gpus:
        return _gpu_choice(gpus)
    if flags is _READ:
        flags = cpu_flags()
    return _cpu_choice(None if flags is None else frozenset(flags))
