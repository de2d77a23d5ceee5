"""Parameter tables of registered architectures (`visiontk arch list/show`; building imports Keras).

A table is plain data: {"name", "input_shape", "output_shape", "layers": [{"name", "output_shape",
"params"}], "total_params"}. Layers are grouped into one row per name prefix when the registry entry
has meta `summary_groups` (GoogLeNet: one row per module, as in its paper table). `compare_with_paper`
adds the registry meta `paper` beside ours: {"input_shape", "num_classes", "rows": [{"name",
"output_shape", "params"}] (may be empty), "total_params", optional "total_rounding" (e.g. 1e6 when
the paper gives millions), "source", optional "note"}.
"""

from __future__ import annotations

from visiontk.errors import ModelError

_RESERVED = ("input_shape", "include_top", "num_classes", "name")


def default_param_count(name: str) -> int:
    """Parameters of `name` built with its builder's default input shape and classes.

    Example:
        >>> default_param_count("lenet5")  # doctest: +SKIP
        61706
    """
    from visiontk.catalog import ARCHITECTURES

    import keras

    model = ARCHITECTURES.get(name)()
    count = model.count_params()
    del model
    keras.backend.clear_session()
    return count


def _builder_key(name: str) -> str:
    """What a cached count depends on: the builder module's source and the Keras version (Keras
    builds the keras.applications networks). An edited builder gets a new key, so no stale count."""
    import hashlib
    import importlib.metadata
    import inspect
    import sys

    from visiontk.catalog import ARCHITECTURES

    module = sys.modules[ARCHITECTURES.get(name).__module__]
    digest = hashlib.sha1(inspect.getsource(module).encode()).hexdigest()[:12]
    return f"{name}|{digest}|keras {importlib.metadata.version('keras')}"


def param_cache_file() -> "Path":
    """$XDG_CACHE_HOME/visiontk/param_counts.json (else ~/.cache/visiontk/param_counts.json)."""
    import os
    from pathlib import Path

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "visiontk" / "param_counts.json"


def cached_param_counts(names, cache_file=None, on_build=None, on_missing=None) -> dict:
    """{name: default_param_count(name)}, from a JSON cache where the builder has not changed (the
    first listing builds ~45 networks, about 1.5 min on 2 CPU cores; later ones are instant).
    The cache is `param_cache_file()`; `on_missing(names)` is called once with the networks that
    have to be built (before any is), `on_build(name)` before each of them."""
    import json
    from pathlib import Path

    from visiontk.io import write_text
    from visiontk.catalog import populate

    populate()                    # the builders' modules: their source is the cache key
    cache_file = Path(cache_file or param_cache_file())
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    keys = {name: _builder_key(name) for name in names}
    missing = [name for name in names if keys[name] not in cache]
    if missing and on_missing:
        on_missing(missing)
    for name in missing:
        if on_build:
            on_build(name)
        cache[keys[name]] = default_param_count(name)
        try:                      # after each: an interrupted first listing keeps what it built
            write_text(cache_file, json.dumps(cache, indent=1, sort_keys=True))
        except OSError:
            pass                  # a read-only home: the counts are still right, just not kept
    return {name: cache[keys[name]] for name in names}


def _shape(tensor):
    if isinstance(tensor, dict):
        return {k: _shape(v) for k, v in tensor.items()}
    if isinstance(tensor, (list, tuple)):
        return [_shape(v) for v in tensor]
    return list(tensor.shape[1:])


def _output_shape(layer):
    try:
        return _shape(layer.output)
    except (AttributeError, ValueError):       # a layer called more than once has no single output
        return None


def layer_rows(model, groups=()) -> list[dict]:
    """One row per layer (input layers left out), or per group of layers sharing a name prefix.

    A layer belongs to the longest prefix `p` in `groups` with `name == p` or `name.startswith(p +
    "_")`; a group's output shape is that of its layer named `p` (else of its last layer).

    Example:
        >>> layer_rows(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="fc")]))  # doctest: +SKIP
        [{'name': 'fc', 'output_shape': [2], 'params': 10}]
    """
    rows: dict[str, dict] = {}
    ordered = sorted(groups, key=len, reverse=True)
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        key = next((p for p in ordered if layer.name == p or layer.name.startswith(p + "_")),
                   layer.name)
        row = rows.setdefault(key, {"name": key, "output_shape": None, "params": 0})
        row["params"] += layer.count_params()
        if layer.name == key or not row.get("_named"):
            row["output_shape"] = _output_shape(layer)
            row["_named"] = layer.name == key
    for row in rows.values():
        row.pop("_named", None)
    return list(rows.values())


def parse_input(text: str | None):
    """'224,224,3' -> (224, 224, 3); None stays None."""
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in str(text).replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) <= 0:
        raise ModelError(f"--input: expected H,W,C (three positive integers, e.g. 224,224,3), got "
                         f"{text!r}")
    return shape


def architecture_table(name: str, input_shape=None, num_classes=None, params=None, *,
                       compare_paper: bool | str = False) -> dict:
    """Build `name` with its top and tabulate it (with the paper's numbers when `compare_paper`).

    Args:
        name: a registered architecture or alias.
        input_shape: (H, W, C); default the paper's input with `compare_paper`, else the builder's.
        num_classes: default the paper's with `compare_paper`, else the builder's.
        params: extra builder keyword arguments (e.g. {"aux_logits": True}).
        compare_paper: add the registry meta `paper` columns (ModelError when there is none);
            a string names another reference table: "keras" -> meta `paper_keras`.

    Example:
        >>> t = architecture_table("googlenet", compare_paper=True)  # doctest: +SKIP
        >>> t["total_params"], t["paper"]["total_params"]  # doctest: +SKIP
        (6998552, 6797700)
    """
    from visiontk.catalog import ARCHITECTURES, populate

    populate()
    entry = ARCHITECTURES.entry(name)          # unknown name: ModelError with did-you-mean
    key = "paper" if compare_paper in (True, "paper") else f"paper_{compare_paper}"
    paper = entry.meta.get(key) if compare_paper else None
    if compare_paper and not paper:
        raise ModelError(_no_paper(ARCHITECTURES, entry, key))
    params = dict(params or {})
    bad = [k for k in params if k in _RESERVED]
    if bad:
        raise ModelError(f"--param {bad[0]}: set it with --input / --classes instead")
    kwargs = dict(params, include_top=True)
    if compare_paper:
        input_shape = input_shape or tuple(paper["input_shape"])
        num_classes = num_classes or paper["num_classes"]
    if num_classes is not None:
        kwargs["num_classes"] = int(num_classes)
    args = (tuple(input_shape),) if input_shape is not None else ()
    try:
        model = ARCHITECTURES.get(entry.name)(*args, **kwargs)
    except TypeError as exc:
        raise ModelError(f"architecture '{entry.name}': {exc}") from None
    except ValueError as exc:
        raise ModelError(f"architecture '{entry.name}' cannot be built for input "
                         f"{list(input_shape or [])}: {str(exc).splitlines()[0]}") from None
    table = {"name": entry.name, "input_shape": list(model.inputs[0].shape[1:]),
             "output_shape": _shape(model.output),
             "layers": layer_rows(model, entry.meta.get("summary_groups", ())),
             "total_params": int(model.count_params())}
    return compare_with_paper(table, paper) if compare_paper else table


def _no_paper(registry, entry, key: str) -> str:
    others = [k[6:] for k in entry.meta if k.startswith("paper_")]
    if key != "paper" or others:
        tables = ", ".join(["paper"] * ("paper" in entry.meta) + others) or "none"
        return (f"architecture '{entry.name}' has no reference table '{key[6:] or 'paper'}'; it has: "
                f"{tables} (--compare-paper, or --compare-paper=NAME)")
    with_paper = [n for n in registry.names() if registry.entry(n).meta.get("paper")]
    return (f"architecture '{entry.name}' has no paper table to compare with (registry meta 'paper'); "
            f"architectures with one: {', '.join(with_paper) or 'none'}")


def compare_with_paper(table: dict, paper: dict) -> dict:
    """A copy of `table` with the paper's shape and parameters beside each row (matched by name),
    the paper's rows we do not have appended, and the total's difference.

    Example:
        >>> compare_with_paper({"layers": [{"name": "fc", "output_shape": [2], "params": 10}],
        ...                     "total_params": 10}, {"rows": [], "total_params": 12})["total_diff"]
        -2
    """
    rows_by_name = {r["name"]: r for r in paper.get("rows", ())}
    layers = []
    for row in table["layers"]:
        ref = rows_by_name.pop(row["name"], None)
        layers.append({**row, **_paper_columns(row, ref)})
    for ref in rows_by_name.values():              # in the paper, not in this model
        layers.append({"name": ref["name"], "output_shape": None, "params": None,
                       **_paper_columns({"params": None, "output_shape": None}, ref)})
    out = {**table, "layers": layers}
    total = paper.get("total_params")
    rounding = paper.get("total_rounding")
    diff = table["total_params"] - total if total is not None else None
    out["paper"] = {"source": paper.get("source", ""), "note": paper.get("note", ""),
                    "rows": len(paper.get("rows", ())),
                    "input_shape": list(paper.get("input_shape", ())),
                    "num_classes": paper.get("num_classes"), "total_params": total,
                    "total_rounding": rounding,
                    "total_within_rounding": (abs(diff) <= rounding / 2
                                              if rounding and diff is not None else None)}
    out["total_diff"] = diff
    return out


def _paper_columns(row: dict, ref: dict | None) -> dict:
    if ref is None:
        return {"paper_output_shape": None, "paper_params": None, "params_diff": None,
                "shape_match": None}
    ours, theirs = row.get("params"), ref.get("params")
    shape = ref.get("output_shape")
    return {"paper_output_shape": shape, "paper_params": theirs,
            "params_diff": ours - theirs if ours is not None and theirs is not None else None,
            "shape_match": (_squeeze(row["output_shape"]) == _squeeze(shape)
                            if row.get("output_shape") is not None and shape is not None else None)}


def _squeeze(shape):
    # the papers write a pooled vector as 1x1xC; Keras gives (C,)
    return [d for d in shape if d != 1] if isinstance(shape, list) else shape


def _fmt_shape(shape) -> str:
    if shape is None:
        return "-"
    if isinstance(shape, dict):
        return " ".join(f"{k}:{_fmt_shape(v)}" for k, v in shape.items())
    if shape and isinstance(shape[0], list):
        return " ".join(_fmt_shape(s) for s in shape)
    return "x".join("?" if d is None else str(d) for d in shape) or "scalar"


def _num(v, signed=False) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return f"{v:+,}" if signed else f"{v:,}"


def _pct(diff, ref) -> str:
    return f"{100.0 * diff / ref:+.1f}%" if diff is not None and ref else "-"


def format_table(table: dict) -> str:
    """The table as aligned text (with the paper's columns when the table has them).

    Example:
        >>> print(format_table(architecture_table("lenet5")))  # doctest: +SKIP
    """
    compare = "paper" in table
    rows = compare and table["paper"]["rows"] > 0       # a paper may give its total only
    shape = "x".join(map(str, table["input_shape"]))
    lines = [f"{table['name']}: input {shape} -> output {_fmt_shape(table['output_shape'])}"]
    width = max([len(r["name"]) for r in table["layers"]] + [5]) + 2
    head = f"{'name':<{width}}{'output shape':<18}{'params':>12}"
    if rows:
        head += f"  {'paper shape':<16}{'paper params':>13}{'diff':>12}{'diff %':>9}"
    lines += [head, "-" * len(head)]
    for r in table["layers"]:
        line = f"{r['name']:<{width}}{_fmt_shape(r['output_shape']):<18}{_num(r['params']):>12}"
        if rows:
            mark = " " if r["shape_match"] in (True, None) else "!"
            line += (f" {mark}{_fmt_shape(r['paper_output_shape']):<16}{_num(r['paper_params']):>13}"
                     f"{_num(r['params_diff'], True):>12}{_pct(r['params_diff'], r['paper_params']):>9}")
        lines.append(line)
    lines.append("-" * len(head))
    total = f"{'total':<{width}}{'':<18}{table['total_params']:>12,}"
    if compare:
        p = table["paper"]
        total += f"  {'':<16}" if rows else "  paper"
        total += f"{_num(p['total_params']):>13}{_num(table['total_diff'], True):>12}" \
                 f"{_pct(table['total_diff'], p['total_params']):>9}"
    lines.append(total)
    if compare:
        p = table["paper"]
        notes = [f"paper: {p['source']}" if p["source"] else "paper"]
        if p["total_rounding"]:
            verdict = "within" if p["total_within_rounding"] else "outside"
            notes.append(f"total given to the nearest {_num(p['total_rounding'])} ({verdict} that "
                         f"rounding)")
        if p["note"]:
            notes.append(p["note"])
        if p["input_shape"] and list(table["input_shape"]) != list(p["input_shape"]):
            notes.append(f"built at {shape}, the paper's input is {_fmt_shape(p['input_shape'])}")
        if any(r["shape_match"] is False for r in table["layers"]):
            notes.append("! marks an output shape that differs from the paper's")
        lines.append("; ".join(notes))
    return "\n".join(lines)
