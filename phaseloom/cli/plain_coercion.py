"""Plain-Python coercion of ``str``, ``int`` and ``bool`` command-line values, instead of a pydantic
``TypeAdapter`` for each parameter.

Typer 0.29 coerces every parameter through a pydantic ``TypeAdapter``, built on first use: a command
with one ``int`` or ``str`` argument imports pydantic and builds adapters, ~75 ms of CPU on every call
(more than a read command's query). Our commands take strings, integers and flags, for which the
adapters do ``str(value)`` and ``int(value)`` or get a ``bool`` already. So this patch answers those
directly and hands everything else (other types, a parser, bounds, any value that is not a plain
decimal integer or an actual bool) to typer's own adapter, so errors read exactly as before. On a
typer without this machinery (older releases coerce through click) it does nothing.
"""

from __future__ import annotations

import re
from typing import Any, get_args, get_origin

_DECIMAL = re.compile(r"[+-]?[0-9]+")


def _plain(annotation: Any) -> tuple[type, bool] | None:
    """(``str``, ``int`` or ``bool``, whether a list of them) when ``annotation`` is one we coerce directly."""
    is_list = get_origin(annotation) is list
    leaf = get_args(annotation)[0] if is_list and get_args(annotation) else annotation
    return (leaf, is_list) if leaf in (str, int, bool) else None


def _convert(leaf: type, value: Any) -> Any:
    """The value as ``leaf``, or ``LookupError`` when typer's adapter must decide (and word any error)."""
    if isinstance(value, str) and (leaf is str or _DECIMAL.fullmatch(value)):
        return leaf(value)
    if leaf in (int, bool) and type(value) is leaf:  # a default, or a flag's value
        return value
    raise LookupError


TYPER_RUNTIME_PARAM = None  # typer's own ``get_runtime_param``, once replaced


def install() -> None:
    global TYPER_RUNTIME_PARAM
    try:
        from typer import core
        from typer._coercion import RuntimeParam, build_runtime_param
    except ImportError:
        return
    parameter = getattr(core, "_TyperParameter", None)
    if parameter is None or not hasattr(parameter, "get_runtime_param"):
        return

    class PlainRuntimeParam(RuntimeParam):
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            leaf, is_list = _plain(self.annotation)
            try:
                if is_list:
                    return [_convert(leaf, item) for item in value]
                return _convert(leaf, value)
            except (LookupError, TypeError):
                # typer's own coercion, which this subclass overrides (typer names it private; no public one)
                return build_runtime_param(param.type_descriptor)._coerce_value(  # noqa: SLF001
                    value, param=param, ctx=ctx)

    if TYPER_RUNTIME_PARAM is not None:
        return
    typer_runtime_param = TYPER_RUNTIME_PARAM = parameter.get_runtime_param

    def get_runtime_param(self) -> Any:
        info = self.type_descriptor.parameter_info
        if (self._runtime_param is None and self.type_descriptor.file_annotation is None
                and getattr(info, "parser", None) is None and getattr(info, "click_type", None) is None
                and info.min is None and info.max is None and _plain(self.type_descriptor.annotation)):
            self._runtime_param = PlainRuntimeParam(parameter_info=info, annotation=self.type_descriptor.annotation)
        return typer_runtime_param(self)

    parameter.get_runtime_param = get_runtime_param
