"""Read a YAML file and remember the line of every mapping key and sequence item.

Mapping keys are kept as the text written in the file (``1:`` stays ``"1"``, ``no:`` stays ``"no"``), so
menu digits and node names are never turned into numbers or booleans. Duplicate keys, which PyYAML would
silently collapse, are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hotline.flow.problems import KeyPath, Problem


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else self.construct_object(key_node, deep=True)
            out[key] = self.construct_object(value_node, deep=deep)
        return out


_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    lambda loader, node: loader.construct_mapping(node, deep=True),  # type: ignore[arg-type]
)


@dataclass
class Source:
    """A parsed YAML document with the line (1-based) of every key path in it."""

    file: str
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def line(self, path: KeyPath) -> int:
        """The line of the longest prefix of `path` that the file holds (1 for the document itself)."""
        for n in range(len(path), 0, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return 1


def _walk(node: Node, path: KeyPath, src: Source) -> None:
    if isinstance(node, MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, ScalarNode) else "?"
            line = key_node.start_mark.line + 1
            if key in seen:
                node_name = str(path[1]) if len(path) >= 2 and path[0] == "nodes" else None
                if path == ("nodes",):
                    node_name = key
                src.problems.append(
                    Problem(src.file, line, node_name, key, f"key {key!r} appears twice; the later one would win")
                )
            seen.add(key)
            src.lines.setdefault((*path, key), line)
            _walk(value_node, (*path, key), src)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            src.lines[(*path, i)] = item.start_mark.line + 1
            _walk(item, (*path, i), src)


def read_yaml(path: Path, shown: str | None = None) -> Source:
    """Parse `path`; a file that cannot be read or parsed gives a Source with data None and a problem."""
    file = shown or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        return Source(file, None, problems=[Problem(file, 1, None, None, f"cannot read file: {reason}")])
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        what = getattr(exc, "problem", None) or str(exc)
        return Source(file, None, problems=[Problem(file, line, None, None, f"not valid YAML: {what}")])
    finally:
        loader.dispose()
    src = Source(file, data)
    if root is not None:
        _walk(root, (), src)
    return src
