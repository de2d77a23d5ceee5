"""Constrained field types whose errors read well: `must be between 0 and 1, got 1.5`."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


class Strict(BaseModel):
    """Recipe sections refuse unknown keys (reported with the nearest valid name), and NaN or
    infinity in any float field, also when given as text ("nan", "inf")."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)


def between(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False):
    def check(v):
        ok_lo = v > lo if lo_open else v >= lo
        ok_hi = v < hi if hi_open else v <= hi
        if not (ok_lo and ok_hi):
            lo_s, hi_s = ("(" if lo_open else "[") + f"{lo}", f"{hi}" + (")" if hi_open else "]")
            interval = "" if not (lo_open or hi_open) else f" {lo_s}, {hi_s}"
            raise ValueError(f"must be between {lo} and {hi}{interval}, got {v}")
        return v

    return AfterValidator(check)


def _positive(v):
    if v <= 0:
        raise ValueError(f"must be greater than 0, got {v}")
    return v


def _non_negative(v):
    if v < 0:
        raise ValueError(f"must be 0 or more, got {v}")
    return v


PositiveInt = Annotated[int, AfterValidator(_positive)]
PositiveFloat = Annotated[float, AfterValidator(_positive)]
NonNegInt = Annotated[int, AfterValidator(_non_negative)]
NonNegFloat = Annotated[float, AfterValidator(_non_negative)]
Fraction = Annotated[float, between(0.0, 1.0)]
OpenFraction = Annotated[float, between(0.0, 1.0, hi_open=True)]
