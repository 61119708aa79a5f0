"""Read a Hephaestus SDK package's values from its source, without running any of it.

A Hephaestus workflow package (``phases.py``, ``board_config.py``, ``phase_1_*.py``…) builds
``Phase``, ``WorkflowConfig``, ``LaunchTemplate`` and ``LaunchParameter`` objects from
``src.sdk.models`` and imports them between its files (``from example_workflows.bug_fix.phase_1
import PHASE_1``). Hephaestus imports the package; phaseloom reads it: each file is parsed with
:mod:`ast` and the module-level names the workflow needs are evaluated from literals (strings,
numbers, lists, dicts, ``+`` of strings or lists, f-strings of such values), other names of the
package, and calls of the SDK classes. Nothing the files say is executed, so loading or
validating a downloaded package cannot run its code, and no ``src`` or ``example_workflows``
module has to be importable. A value computed at run time (``os.getenv(...)``, a function call)
cannot be read and is reported at its file, line and column.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phaseloom.domain.errors import WorkflowInvalid, WorkflowProblem

MAX_SOURCE_BYTES = 1024 * 1024
MAX_FILES = 200
# Names may share values (``B = [A, A]``): the workflow a package spells out is bounded by its
# size as a tree, so a file cannot make the loader build an exponentially large document.
MAX_TREE_SIZE = 1_000_000
# The SDK classes a workflow package uses: field names in positional order, and their defaults.
SDK_CLASSES: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "Phase": (("id", "name", "description", "done_definitions", "working_directory", "additional_notes",
               "outputs", "next_steps", "validation", "cli_tool", "cli_model", "glm_api_token_env"), {}),
    "ValidationCriteria": (("enabled", "criteria"), {"enabled": False, "criteria": []}),
    "WorkflowConfig": (("has_result", "result_criteria", "on_result_found", "enable_tickets", "board_config"), {}),
    "LaunchParameter": (("name", "label", "type", "required", "default", "description", "options"), {}),
    "LaunchTemplate": (("parameters", "phase_1_task_prompt"), {}),
    "WorkflowDefinition": (("id", "name", "phases", "config", "description", "launch_template"), {}),
}
SDK_MODULES = ("src.sdk.models", "src.sdk", "sdk.models", "hephaestus.sdk.models")


@dataclass
class SdkObject:
    """One SDK call as read: its class, its arguments, and where each argument was written."""

    kind: str
    fields: dict[str, Any]
    file: Path
    line: int
    lines: dict[tuple, int] = field(default_factory=dict)  # argument path -> line

    def line_of(self, path: tuple) -> int:
        for length in range(len(path), 0, -1):
            if path[:length] in self.lines:
                return self.lines[path[:length]]
        return self.line


@dataclass(frozen=True)
class _Import:
    module: str
    level: int
    name: str | None  # None: ``import module``
    line: int = 0


@dataclass(frozen=True)
class _ModuleRef:
    path: Path | None  # None: the SDK models module
    external: str = ""  # a module outside the package (os, textwrap…), never run


@dataclass(frozen=True)
class _SdkClass:
    name: str


class _Unreadable(Exception):
    def __init__(self, node: ast.AST, what: str) -> None:
        super().__init__(what)
        self.node = node
        self.what = what


class PackageReader:
    """The files of one package folder, parsed once, with their module-level names evaluated on demand."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._modules: dict[Path, _Module] = {}
        # (file, name) of the module-level names being evaluated now, across the package's files:
        # meeting one again means it refers to itself.
        self.evaluating: set[tuple[Path, str]] = set()
        self.unresolved: list[str] = []  # dotted imports that name no file of the package

    def module(self, path: Path) -> _Module:
        path = path.resolve()
        if path not in self._modules:
            if len(self._modules) >= MAX_FILES:
                raise WorkflowInvalid([WorkflowProblem(f"more than {MAX_FILES} Python files", file=str(self.root))])
            self._modules[path] = _Module(self, path)
        return self._modules[path]

    def value(self, path: Path, name: str) -> Any:
        """The value of module-level ``name`` in ``path``; unreadable values raise a located problem."""
        module = self.module(path)
        try:
            value = module.lookup(name, None)
        except _Unreadable as exc:
            raise WorkflowInvalid([_problem(exc, module.path)]) from None
        except RecursionError:
            raise WorkflowInvalid([WorkflowProblem(f"the value of {name} is nested too deeply",
                                                   file=str(module.path))]) from None
        if tree_size(value, {}) > MAX_TREE_SIZE:
            raise WorkflowInvalid([WorkflowProblem(
                f"the value of {name} is too large (more than {MAX_TREE_SIZE} items and text blocks)",
                file=str(module.path))])
        return value

    def resolve(self, module: str, level: int, from_file: Path) -> Path | None:
        """The file of the package an import names, if it is one (absolute, relative or by package name)."""
        parts = [p for p in module.split(".") if p]
        bases: list[list[str]] = []
        if level:
            base = from_file.parent
            for _ in range(level - 1):
                base = base.parent
            return self._existing(base, parts)
        for i, part in enumerate(parts):
            if part == self.root.name:
                bases.append(parts[i + 1:])
        # A package copied under another folder name still finds its files by their trailing names.
        bases += [parts[i:] for i in range(len(parts))]
        for rest in bases:
            found = self._existing(self.root, rest) or self._existing(from_file.parent, rest)
            if found is not None:
                return found
        return None

    def _existing(self, base: Path, parts: list[str]) -> Path | None:
        target = base.joinpath(*parts) if parts else base
        for candidate in (target.with_suffix(".py") if parts else None, target / "__init__.py"):
            if candidate is not None and candidate.is_file():
                resolved = candidate.resolve()
                if resolved == self.root or self.root in resolved.parents:
                    return resolved
        return None


class _Module:
    """One parsed file: its module-level bindings (assignments and imports)."""

    def __init__(self, reader: PackageReader, path: Path) -> None:
        self.reader = reader
        self.path = path
        self.bindings: dict[str, ast.AST | _Import] = {}
        self.values: dict[str, Any] = {}
        self.tree = _parse(path)
        for node in self.tree.body:
            self._bind(node)

    def _bind(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.bindings[target.id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            self.bindings[node.target.id] = node.value
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name != "*":
                    self.bindings[alias.asname or alias.name] = _Import(node.module or "", node.level, alias.name,
                                                                        node.lineno)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                module = alias.name if alias.asname else alias.name.split(".")[0]
                self.bindings[name] = _Import(module, 0, None, node.lineno)

    def workflow_names(self) -> list[str]:
        """Module-level names that may hold part of the workflow: SDK calls, lists, package imports."""
        names = []
        for name, binding in self.bindings.items():
            if isinstance(binding, _Import):
                if binding.name is not None and not binding.module.endswith(("sdk.models", "src.sdk")):
                    names.append(name)
            elif isinstance(binding, (ast.List, ast.Tuple)) or (
                    isinstance(binding, ast.Call) and _callee_name(binding) in SDK_CLASSES):
                names.append(name)
        return names

    def is_sdk_call(self, name: str) -> bool:
        binding = self.bindings.get(name)
        return isinstance(binding, ast.Call) and _callee_name(binding) in SDK_CLASSES

    def lookup(self, name: str, node: ast.AST | None) -> Any:
        if name in self.values:
            return self.values[name]
        binding = self.bindings.get(name)
        if binding is None:
            raise _Unreadable(node or self.tree, f"the name {name!r}, which {self.path.name} does not define "
                                                 "at module level")
        key = (self.path, name)
        if key in self.reader.evaluating:
            raise _Unreadable(node or self.tree, f"the name {name!r}, which refers to itself")
        self.reader.evaluating.add(key)
        try:
            value = self._imported(binding, node) if isinstance(binding, _Import) else self.eval(binding)
        finally:
            self.reader.evaluating.discard(key)
        self.values[name] = value
        return value

    def _imported(self, binding: _Import, node: ast.AST | None) -> Any:
        if binding.module in SDK_MODULES or binding.module.endswith("sdk.models"):
            if binding.name is None or binding.name == "models":
                return _ModuleRef(None)
            if binding.name in SDK_CLASSES:
                return _SdkClass(binding.name)
            return _ModuleRef(None, external=f"{binding.module}.{binding.name}")
        target = self.reader.resolve(binding.module, binding.level, self.path)
        if binding.name is None:
            return _ModuleRef(target) if target else _ModuleRef(None, external=binding.module)
        if target is not None:
            module = self.reader.module(target)
            if binding.name in module.bindings:
                return self._in_other(module, binding.name, node)
        submodule = self.reader.resolve(f"{binding.module}.{binding.name}", binding.level, self.path)
        if submodule is not None:
            return _ModuleRef(submodule)
        where = f"module {binding.module or '.'}" + ("" if target else " (not a file of this package)")
        if target is None and binding.module.count(".") >= 1 or binding.level:
            self.reader.unresolved.append(f"{binding.module or '.'} ({self.path.name}:{binding.line})")
        return _ModuleRef(None, external=f"{binding.name} from {where}")

    def _in_other(self, module: _Module, name: str, node: ast.AST | None) -> Any:
        try:
            return module.lookup(name, None)
        except _Unreadable as exc:
            if isinstance(exc, _Located):
                raise
            raise _Located(exc, module.path) from None

    # -- expressions -----------------------------------------------------------------
    def eval(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.eval(item) for item in node.elts]
        if isinstance(node, ast.Dict):
            if any(key is None for key in node.keys):
                raise _Unreadable(node, "a ** expansion inside a dict")
            return {self.eval(k): self.eval(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.Name):
            value = self.lookup(node.id, node)
            return value
        if isinstance(node, ast.Attribute):
            return self._attribute(node)
        if isinstance(node, ast.JoinedStr):
            return "".join(self._formatted(part) for part in node.values)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.eval(node.left), self.eval(node.right)
            if type(left) is type(right) and isinstance(left, (str, list)):
                return left + right
            raise _Unreadable(node, "a + of values that are not both strings or both lists")
        if isinstance(node, ast.Call):
            return self._call(node)
        raise _Unreadable(node, f"a {type(node).__name__} expression")

    def _formatted(self, part: ast.AST) -> str:
        if isinstance(part, ast.Constant):
            return str(part.value)
        if isinstance(part, ast.FormattedValue) and part.conversion == -1 and part.format_spec is None:
            value = self.eval(part.value)
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                return str(value)
        raise _Unreadable(part, "an f-string part that is not a plain string or number")

    def _attribute(self, node: ast.Attribute) -> Any:
        base = self.eval(node.value)
        if isinstance(base, _ModuleRef) and base.external:
            return _ModuleRef(None, external=f"{base.external}.{node.attr}")
        if isinstance(base, _ModuleRef) and base.path is None and not base.external and node.attr in SDK_CLASSES:
            return _SdkClass(node.attr)
        if isinstance(base, _ModuleRef) and base.path is not None:
            return self._in_other(self.reader.module(base.path), node.attr, node)
        raise _Unreadable(node, f"the attribute {node.attr!r} of a value phaseloom does not compute")

    def _call(self, node: ast.Call) -> SdkObject:
        callee = self.eval(node.func) if isinstance(node.func, (ast.Name, ast.Attribute)) else None
        if isinstance(callee, _ModuleRef) and callee.external:
            raise _Unreadable(node, f"a call of {callee.external}, which phaseloom does not run")
        if not isinstance(callee, _SdkClass):
            raise _Unreadable(node, "a call of something other than a src.sdk.models class")
        order, defaults = SDK_CLASSES[callee.name]
        fields: dict[str, Any] = dict(defaults)
        lines: dict[tuple, int] = {}
        if len(node.args) > len(order) or any(isinstance(a, ast.Starred) for a in node.args):
            raise _Unreadable(node, f"{callee.name}(...) with more positional arguments than it has fields")
        for name, arg in zip(order, node.args):
            fields[name] = self.eval(arg)
            _record_lines(arg, (name,), lines)
        for keyword in node.keywords:
            if keyword.arg is None:
                raise _Unreadable(keyword.value, f"a ** expansion in {callee.name}(...)")
            fields[keyword.arg] = self.eval(keyword.value)
            lines[(keyword.arg,)] = keyword.value.lineno
            _record_lines(keyword.value, (keyword.arg,), lines)
        return SdkObject(callee.name, fields, self.path, node.lineno, lines)


class _Located(_Unreadable):
    """An unreadable value found while reading another file of the package."""

    def __init__(self, inner: _Unreadable, path: Path) -> None:
        super().__init__(inner.node, inner.what)
        self.path = path


def tree_size(value: Any, seen: dict[int, int]) -> int:
    """The size ``value`` has once its shared parts are copied out (computed once per shared part)."""
    if isinstance(value, str):
        return 1 + len(value) // 4096
    if isinstance(value, (list, dict, SdkObject)):
        key = id(value)
        if key not in seen:
            seen[key] = 0  # a cycle cannot be built from literals; guard anyway
            items = value.fields.values() if isinstance(value, SdkObject) else (
                value.values() if isinstance(value, dict) else value)
            seen[key] = 1 + sum(tree_size(item, seen) for item in items)
        return seen[key]
    return 1


def _callee_name(node: ast.Call) -> str | None:
    return getattr(node.func, "id", None) or getattr(node.func, "attr", None)


def _record_lines(node: ast.AST, prefix: tuple, lines: dict[tuple, int]) -> None:
    """Where each item of a literal list or dict argument was written."""
    if isinstance(node, (ast.List, ast.Tuple)):
        for i, item in enumerate(node.elts):
            lines[prefix + (i,)] = item.lineno
            _record_lines(item, prefix + (i,), lines)
    elif isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values):
            if isinstance(key, ast.Constant):
                lines[prefix + (key.value,)] = key.lineno
                _record_lines(value, prefix + (key.value,), lines)
    elif isinstance(node, ast.Call):
        for keyword in node.keywords:
            if keyword.arg:
                lines[prefix + (keyword.arg,)] = keyword.value.lineno
                _record_lines(keyword.value, prefix + (keyword.arg,), lines)


def _parse(path: Path) -> ast.Module:
    try:
        raw = path.read_bytes()
        if len(raw) > MAX_SOURCE_BYTES:
            raise WorkflowInvalid([WorkflowProblem(
                f"file is {len(raw)} bytes; workflow files are limited to {MAX_SOURCE_BYTES}", file=str(path))])
        return ast.parse(raw.decode("utf-8-sig"), filename=str(path))
    except SyntaxError as exc:
        raise WorkflowInvalid([WorkflowProblem(f"Python syntax error: {exc.msg}", file=str(path),
                                               line=exc.lineno, column=exc.offset)]) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise WorkflowInvalid([WorkflowProblem(f"cannot read Python file: {exc}", file=str(path))]) from None
    except (RecursionError, MemoryError):
        raise WorkflowInvalid([WorkflowProblem("Python file is nested too deeply to read", file=str(path))]) from None


def _problem(exc: _Unreadable, path: Path) -> WorkflowProblem:
    where = exc.path if isinstance(exc, _Located) else path
    return WorkflowProblem(
        f"cannot read {exc.what}: phaseloom reads Hephaestus packages without running them, "
        "so values must be literals, names of the package or src.sdk.models calls",
        file=str(where), line=getattr(exc.node, "lineno", None),
        column=(exc.node.col_offset + 1) if hasattr(exc.node, "col_offset") else None)


def imports_sdk(path: Path) -> bool:
    """Whether a Python file imports from the Hephaestus SDK (a cheap text check, then the syntax tree)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return False
    if "sdk" not in text:
        return False
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return "src.sdk.models" in text
    return any(isinstance(node, ast.ImportFrom) and node.module and
               (node.module in SDK_MODULES or node.module.endswith("sdk.models"))
               for node in ast.walk(tree))
