"""The YAML dialect of settings.yaml: PyYAML's safe loader, stricter in two ways.

- A key repeated in one mapping is refused (PyYAML keeps the last one silently, so a second
  ``threshold:`` further down would quietly win).
- Only ``true`` and ``false`` are booleans (YAML 1.2), as in JSON: YAML 1.1's ``yes``, ``no``,
  ``on`` and ``off`` stay strings, which the typed settings then refuse for a boolean field.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode

_BOOL_TAG = "tag:yaml.org,2002:bool"
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


class YamlSyntaxError(ValueError):
    """The text is not YAML we accept; the message is one plain sentence with the line."""


class _StrictLoader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]  # untyped without stubs
    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                continue  # unhashable: PyYAML's own error follows below
            if key in seen:
                line = key_node.start_mark.line + 1
                raise YamlSyntaxError(f"the key {key!r} appears twice in one mapping (line {line})")
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep)
        return mapping


# Replace YAML 1.1's boolean words with YAML 1.2's (the resolver table is per class).
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(_BOOL_TAG, _BOOL, list("tTfF"))


def _where(mark: Any) -> str:
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""


def load_yaml(text: str) -> Any:
    """The document in ``text``; :class:`YamlSyntaxError` in plain words when it is not valid."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        # PyYAML's own text names "<unicode string>" and repeats the source line; keep the
        # problem and where it is.
        problem = exc.problem or exc.context or "not valid YAML"
        raise YamlSyntaxError(f"{problem}{_where(exc.problem_mark)}") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc)) from None
