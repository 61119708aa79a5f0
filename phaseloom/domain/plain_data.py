"""Copy parsed data (a workflow file, a task result) into plain JSON values, refusing anything hostile or unstorable.

Every loader passes its raw data through :func:`plain_copy` before the schema sees it, so the
schema, the lint rules and the database only ever meet ``dict``/``list``/``str``/``int``/
``float``/``bool``/``None``. The copy also bounds the work a file can cause: YAML aliases
are expanded while copying, so an alias bomb hits :data:`MAX_NODES` long before it costs
memory, and a self-referencing alias is reported instead of recursing forever.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 64
MAX_NODES = 200_000
_INT_LIMIT = 2**63 - 1

FieldPath = tuple[str | int, ...]


class UnplainData(Exception):
    """One value that cannot be part of a workflow document, and where it is."""

    def __init__(self, path: FieldPath, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def plain_copy(data: Any) -> Any:
    """Return ``data`` as plain JSON values; raise :class:`UnplainData` on the first bad value."""
    return _Copier().copy(data, ())


class _Copier:
    def __init__(self) -> None:
        self.nodes = 0
        self.open_containers: set[int] = set()

    def copy(self, value: Any, path: FieldPath) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise UnplainData(path[:1], f"document is too large once YAML aliases are expanded "
                                    f"(more than {MAX_NODES} values); refusing a possible alias bomb")
        if len(path) > MAX_DEPTH:
            raise UnplainData(path[:4], f"values are nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, enum.Enum):
            value = value.value
        tag = _yaml_tag(value)
        if tag == "!!str" and isinstance(getattr(value, "value", None), str):
            value = value.value
        elif tag is not None and tag not in ("!!map", "!!seq"):
            raise UnplainData(path, f"YAML tag {tag} is not supported")
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            return _plain_int(value, path)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise UnplainData(path, f"number {value} is not allowed; use a finite number")
            return float(value)
        if isinstance(value, str):
            return _plain_text(value, path, "value")
        if isinstance(value, Mapping):
            return self._container(value, path, self._mapping)
        if isinstance(value, (list, tuple)):
            return self._container(value, path, self._sequence)
        raise UnplainData(path, f"unsupported value ({type(value).__name__}); quote it if it is meant as text")

    def _container(self, value: Any, path: FieldPath, copier) -> Any:
        key = id(value)
        if key in self.open_containers:
            raise UnplainData(path, "recursive YAML alias: a value contains itself")
        self.open_containers.add(key)
        try:
            return copier(value, path)
        finally:
            self.open_containers.discard(key)

    def _mapping(self, value: Mapping, path: FieldPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise UnplainData(path + (str(k),), f"field names must be text, not {type(k).__name__} {k!r}")
            name = _plain_text(k, path, "field name")
            out[name] = self.copy(v, path + (name,))
        return out

    def _sequence(self, value: Any, path: FieldPath) -> list[Any]:
        return [self.copy(item, path + (i,)) for i, item in enumerate(value)]


def _yaml_tag(value: Any) -> str | None:
    """An explicit YAML tag on a parsed value (ruamel keeps them), spelled ``!!name`` or ``!name``."""
    tag = getattr(value, "tag", None)
    tag = getattr(tag, "value", tag)
    if not isinstance(tag, str) or not tag:
        return None
    return tag.replace("tag:yaml.org,2002:", "!!")


def _plain_int(value: int, path: FieldPath) -> int:
    if abs(value) > _INT_LIMIT:
        raise UnplainData(path, "integer is too large")
    return int(value)


def _plain_text(value: str, path: FieldPath, what: str) -> str:
    if "\x00" in value:
        raise UnplainData(path, f"{what} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UnplainData(path, f"{what} contains an unpaired surrogate (not valid Unicode text)") from None
    return str.__str__(value)
