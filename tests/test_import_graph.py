"""The layers of visiontk point down: no import circles (lazy imports inside functions count, since
they are circles all the same once both run), the TensorFlow-free runtime (copied into exports) imports
no TensorFlow or Keras, and the task packages import neither the trainer nor the evaluator."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "visiontk"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def imported_names(path: Path) -> set[str]:
    """Every module named by an import statement anywhere in the file (top level or in a function)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import module` names the module; `from module import name`, the module
            # (a package's own __init__, run first by Python, is not counted as imported, as for
            # `import pkg.module`)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return found


def visiontk_edges() -> dict[str, set[str]]:
    return {name: {m for m in imported_names(path) if m in MODULES and m != name}
            for name, path in MODULES.items()}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read():
    edges = visiontk_edges()
    assert len(MODULES) > 100
    assert "visiontk.tasks.base" in edges["visiontk.tasks.classification.task"]
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles():
    found = circles(visiontk_edges())
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize("path", sorted(p for p in MODULES.values() if "runtime" in p.parts),
                         ids=lambda p: p.name)
def test_runtime_imports_no_tensorflow_or_keras(path):
    bad = {m for m in imported_names(path) if m.split(".")[0] in ("tensorflow", "keras", "tf_keras")}
    assert not bad, f"{path} imports {sorted(bad)}: the runtime is copied into exports without TensorFlow"


def test_tasks_import_neither_the_trainer_nor_the_evaluator():
    for name, path in MODULES.items():
        if name.startswith("visiontk.tasks"):
            bad = {m for m in imported_names(path)
                   if m == "visiontk.evaluate" or m == "visiontk.train" or m.startswith("visiontk.train.")}
            assert not bad, f"{path} imports {sorted(bad)}: tasks sit below train/ and evaluate.py"
