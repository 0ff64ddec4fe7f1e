"""YAML documents with line numbers: the only module that imports ``yaml``.

PyYAML's constructed objects forget where they came from, so the document is first
*composed* to nodes; the nodes' marks give every key path its line, which lets profile
errors name ``file:line`` and the key path. Duplicate keys (silently "last wins" in
PyYAML) are rejected here because they are almost always a mistake.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crossjit.errors import ProfileError
from crossjit.records import field, record

if TYPE_CHECKING:  # imported where a file is parsed: a cached profile needs no yaml
    import yaml

KeyPath = tuple[str | int, ...]


@record(frozen=True)
class Document:
    """Plain Python data (dicts, lists, scalars) plus the line of every key path."""

    file: Path
    data: Any
    # Line (1-based) of the key for mapping entries, of the item for list entries.
    lines: Mapping[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int:
        """Line of ``path`` or of its nearest ancestor that exists (1 for the root)."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1


def load(file: Path) -> Document:
    """Parse ``file``; syntax errors and duplicate keys raise ProfileError with file:line."""
    import yaml
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(
            f"cannot read profile {file}",
            why=exc.strerror or str(exc),
            hint="check the path (profiles usually live in profiles/*.yaml)",
        ) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Document(file, None, {})
        lines: dict[KeyPath, int] = {}
        _index(file, node, (), lines)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ProfileError(
            f"{file}:{line}: not valid YAML",
            why=f"{exc.problem or exc}" + (f" ({exc.context})" if exc.context else ""),
        ) from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{file}: not valid YAML", why=str(exc)) from None
    finally:
        loader.dispose()
    return Document(file, data, lines)


def _index(file: Path, node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int]) -> None:
    import yaml
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` merges; the constructor flattens it
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise ProfileError(
                    f"{file}:{line}: {dotted(path) or 'top level'}: keys must be plain scalars"
                )
            if key in seen:
                raise ProfileError(
                    f"{file}:{line}: {dotted((*path, key))}: duplicate key "
                    f"(first defined on line {seen[key]})"
                )
            seen[key] = line
            lines[(*path, key)] = line
            _index(file, value_node, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _index(file, item, (*path, i), lines)


def dotted(path: KeyPath) -> str:
    """``('executor', 'dlopen', 2)`` → ``executor.dlopen[2]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
