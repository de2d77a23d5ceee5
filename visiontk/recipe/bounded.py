"""Bounded YAML reading for recipes and override values (issue 17).

`yaml.safe_load` builds an alias as a shared reference, which is cheap; whatever walks the data
afterwards (a line map, pydantic, a deep copy) expands it: a 300-byte alias bomb of 9 levels
expands to 387 million values. So the node graph is measured first, each node once, and refused
when aliases (or merge keys, which PyYAML expands while constructing) would add more than
`ALIAS_BUDGET` values; the line map is taken from the same walk, without expanding anything.
Nesting depth, text size, tags and integer sizes are bounded in the same pass.
"""

from __future__ import annotations

from typing import Any, Callable

import yaml

from visiontk.errors import RecipeError

MAX_BYTES = 1 << 20          # a recipe is a small text file
MAX_DEPTH = 50               # real recipes are 4-5 levels deep; PyYAML recurses per level
ALIAS_BUDGET = 10_000        # values that aliases may add to the document, all together
MAX_INT_DIGITS = 30          # beyond int64 anyway; Python refuses int() of 4300+ digits

# plain data only: no python/*, binary, set, omap, pairs or local tags
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "str", "seq", "map",
                                                   "merge", "timestamp", "value")}
_INT_TAG = "tag:yaml.org,2002:int"
# what an explicit scalar tag can hold, as the tags PyYAML would resolve the text to without it
_TAG_HOLDS = {f"tag:yaml.org,2002:{t}": {f"tag:yaml.org,2002:{h}" for h in holds}
              for t, holds in (("int", ("int",)), ("float", ("int", "float")), ("bool", ("bool",)))}

Locate = Callable[[int | None], str]      # 1-based line (or None) -> "(file line N)" / "(override '…')"


class _TooDeep(Exception):
    def __init__(self, mark):
        self.mark = mark


class _Loader(yaml.SafeLoader):
    """SafeLoader that stops composing past MAX_DEPTH (PyYAML's composer recurses per level)."""

    _depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


# dates are text in a recipe (a run named 2024-01-01), and an impossible date is no crash; so is
# a lone `=` (YAML 1.1's !!value, which SafeLoader cannot construct)
for _tag in ("timestamp", "value"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", yaml.SafeLoader.construct_yaml_str)


def field_name(prefix: tuple) -> str:
    """'train.optimizer.learning_rate' from a path; 'recipe' for the whole; long paths cut."""
    name = ".".join(str(p) for p in prefix) or "recipe"
    return name if len(name) <= 120 else name[:117] + "..."


def _syntax_error(exc: yaml.YAMLError, text: str, locate: Locate, prefix: tuple) -> RecipeError:
    """A YAMLError as one line with the line number and a hint that fits the problem."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark else None
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None) or ""
    if isinstance(exc, yaml.composer.ComposerError) and context.startswith("expected"):
        problem = f"{context}, {problem}"              # expected a single document, but found another
    elif isinstance(exc, yaml.composer.ComposerError) and context.startswith("found"):
        problem = context.split(";")[0]                # found duplicate anchor 'x'
    position = getattr(exc, "position", None)              # ReaderError: a bad character
    if line is None and isinstance(position, int):
        line = text.count("\n", 0, position) + 1
    where = locate(line)
    head = f"{field_name(prefix)}: " if prefix else ""
    if "'\\t'" in problem:
        return RecipeError(f"{head}YAML syntax error: a tab character {where}; YAML indents with "
                           f"spaces only: replace the tabs with spaces")
    if isinstance(exc, yaml.reader.ReaderError):
        return RecipeError(f"{head or 'the recipe is '}not YAML text: {problem} {where}; a recipe is a "
                           f"UTF-8 text file")
    if isinstance(exc, yaml.constructor.ConstructorError):
        return RecipeError(f"{head}cannot read this YAML: {problem} {where}; a recipe holds "
                           f"mappings, lists, text, numbers, true/false and null")
    if prefix:                                              # an override's value
        return RecipeError(f"{head}YAML syntax error: {problem} {where}; quote a text value "
                           f"(key='text') and write lists as [a, b], mappings as {{k: v}}")
    return RecipeError(f"YAML syntax error: {problem} {where}; check indentation and that "
                       f"every 'key: value' pair has a space after the colon")


def _shown_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


class _Walk:
    """One pass over the node graph, each node once: line map, duplicate keys, tags, cycles, integer
    sizes and the expanded size of every node (memoised, so aliases are never expanded)."""

    def __init__(self, loader: yaml.SafeLoader, locate: Locate):
        self.loader, self.locate = loader, locate
        self.lines: dict[tuple, int] = {}
        self.size: dict[int, int] = {}          # id(node) -> values it stands for, aliases expanded
        self.path: dict[int, tuple] = {}        # id(node) -> where it was first seen
        self.open: set[int] = set()             # nodes being walked (an alias to one: a cycle)

    def fail(self, path: tuple, line: int | None, message: str) -> RecipeError:
        return RecipeError(f"{field_name(path)}: {message} {self.locate(line)}".rstrip())

    def node(self, n, path: tuple) -> int:
        key = id(n)
        if key in self.open:
            raise self.fail(path, n.start_mark.line + 1,
                            "a YAML alias refers to the value that contains it (a loop); a recipe is "
                            "plain data: write the value out")
        if key in self.size:
            return self.size[key]
        line = n.start_mark.line + 1
        if n.tag not in _PLAIN_TAGS:
            raise self.fail(path, line, f"the YAML tag '{_shown_tag(n.tag)}' is not allowed; recipes "
                                        f"are plain YAML (mappings, lists, text, numbers, true/false, "
                                        f"null): remove the tag")
        self.path[key] = path
        self.open.add(key)
        total = 1
        if isinstance(n, yaml.MappingNode):
            seen = set()
            for k, v in n.value:
                name = str(k.value)
                if isinstance(k, yaml.ScalarNode):
                    if name in seen:
                        raise self.fail(path + (name,), k.start_mark.line + 1, "duplicate key; keep one")
                    seen.add(name)
                self.lines.setdefault(path + (name,), k.start_mark.line + 1)
                total += self.node(k, path + (name,)) + self.node(v, path + (name,))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                self.lines.setdefault(path + (str(i),), v.start_mark.line + 1)
                total += self.node(v, path + (str(i),))
        else:
            self.scalar(n, path, line)
        self.open.discard(key)
        self.size[key] = total
        return total

    def scalar(self, n, path: tuple, line: int) -> None:
        """Integers that fit, and explicit tags that fit their text (`!!int abc`)."""
        if n.tag in _TAG_HOLDS and isinstance(n, yaml.ScalarNode):
            implicit = self.loader.resolve(yaml.ScalarNode, n.value, (True, False))
            if implicit not in _TAG_HOLDS[n.tag]:
                raise self.fail(path, line, f"{n.value!r} is not a valid {_shown_tag(n.tag)}; remove "
                                            f"the tag or fix the value")
        if n.tag == _INT_TAG and sum(c.isdigit() for c in str(n.value)) > MAX_INT_DIGITS:
            raise self.fail(path, line, f"an integer of {sum(c.isdigit() for c in n.value)} digits is "
                                        f"too large; numbers in a recipe are below 2**63")

    def check_budget(self, root) -> None:
        """Refuse when aliases add more than ALIAS_BUDGET values; name the smallest value over it."""
        unique = len(self.size)
        limit = unique + ALIAS_BUDGET
        if self.size[id(root)] <= limit:
            return
        culprit = root
        while True:
            children = ([c for kv in culprit.value for c in kv] if isinstance(culprit, yaml.MappingNode)
                        else culprit.value if isinstance(culprit, yaml.SequenceNode) else [])
            bigger = next((c for c in children if self.size[id(c)] > limit), None)
            if bigger is None:
                break
            culprit = bigger
        path = self.path[id(culprit)]
        raise self.fail(path, self.lines.get(path, culprit.start_mark.line + 1),
                        f"YAML aliases expand this value to {self.size[id(culprit)]:,} values; the "
                        f"aliases of a recipe may add at most {ALIAS_BUDGET:,}: write the values out "
                        f"or use fewer aliases")


def load_yaml(text: str, locate: Locate, prefix: tuple = ()) -> tuple[Any, dict[tuple, int]]:
    """Safe-load one YAML document within the bounds above.

    Args:
        text: the YAML (a recipe file, or the value of an override).
        locate: 1-based line (or None) -> where, for messages: "(r.yaml line 3)".
        prefix: the field path the document sits at (an override's key), for messages and lines.

    Returns:
        (data, {path tuple: line}); data may share sub-objects (aliases) but expands within the budget.

    Raises:
        RecipeError: one line naming the field, the file and line (or override), and the fix.
    """
    if len(text) > MAX_BYTES:
        raise RecipeError(f"{field_name(prefix)}: {len(text):,} characters is too long for a recipe "
                          f"(at most {MAX_BYTES:,}) {locate(None)}")
    loader = None
    try:
        loader = _Loader(text)                 # checks the characters already
        node = loader.get_single_node()
        if node is None:
            return None, {}
        walk = _Walk(loader, locate)
        walk.node(node, prefix)
        walk.check_budget(node)
        data = loader.construct_document(node)
    except _TooDeep as exc:
        raise RecipeError(f"{field_name(prefix)}: nested more than {MAX_DEPTH} levels deep "
                          f"{locate(exc.mark.line + 1)}; a recipe is a few levels of mappings and "
                          f"lists") from None
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text, locate, prefix) from None
    except (ValueError, TypeError, OverflowError, KeyError) as exc:   # a tag the walk missed
        raise RecipeError(f"{field_name(prefix)}: cannot read a value: {exc} {locate(None)}; remove the "
                          f"'!!' tag or fix the value") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, walk.lines
