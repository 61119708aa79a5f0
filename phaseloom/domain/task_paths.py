"""The paths a task declares it will touch (globs), and when two tasks' paths may overlap.

A glob is reduced to its literal prefix, the text before its first wildcard (``*``, ``?``, ``[``,
``{``): ``src/auth/**`` → ``src/auth/``, ``src/*.py`` → ``src/``, ``**`` → the empty prefix, which
is every path. Any path a glob matches starts with its prefix, so two globs that can match one
path have prefixes of which one starts with the other: the test :func:`prefixes_conflict` (and
the claim's SQL, phaseloom/queue/_statements.py) may call tasks that could never meet a conflict
(``src/a*.py`` and ``src/b*.py`` share ``src/``), never the other way round.
"""

from __future__ import annotations

from collections.abc import Iterable

WILDCARDS = "*?[{"
MAX_GLOB_LENGTH = 500
MAX_GLOBS = 100
# Sorts after every character a glob may hold: the prefixes that start with ``p`` are exactly those from
# ``p`` to ``p + PREFIX_END`` (the claim's index range, phaseloom/queue/_statements.py). Globs may not hold it.
PREFIX_END = "\U0010ffff"


def glob_problem(glob: object) -> str | None:
    """Why ``glob`` cannot be a task's path glob (relative, inside the repository), or None."""
    if not isinstance(glob, str):
        return f"a path glob is a string, not {type(glob).__name__}"
    if not glob.strip():
        return "a path glob cannot be empty"
    if len(glob) > MAX_GLOB_LENGTH:
        return f"a path glob is at most {MAX_GLOB_LENGTH} characters"
    if any(ch in glob for ch in "\0\n\r\\"):
        return f"path glob {glob!r} holds a backslash, NUL or line break: write paths with '/'"
    if PREFIX_END in glob:
        return f"path glob {glob!r} holds U+10FFFF, which is not a character of any path"
    if glob.startswith("/"):
        return f"path glob {glob!r} is absolute: give it relative to the repository's root"
    if ".." in glob.split("/"):
        return f"path glob {glob!r} leaves the repository ('..')"
    if glob.count("[") != glob.count("]") or glob.count("{") != glob.count("}"):
        return f"path glob {glob!r} has an unclosed '[' or '{{'"
    return None


def normalised_globs(globs: Iterable[object] | None, *, what: str = "paths") -> list[str]:
    """The distinct globs, checked (:class:`ValueError` naming the first bad one), ``./`` dropped."""
    if globs is None:
        return []
    if isinstance(globs, str) or not isinstance(globs, Iterable):
        raise ValueError(f"{what} is a list of path globs, not {type(globs).__name__}")
    found: list[str] = []
    for glob in globs:
        if isinstance(glob, str):
            glob = glob.strip()
            while glob.startswith("./"):
                glob = glob[2:]
        if problem := glob_problem(glob):
            raise ValueError(f"{what}: {problem}")
        if glob not in found:
            found.append(glob)
    if len(found) > MAX_GLOBS:
        raise ValueError(f"{what}: at most {MAX_GLOBS} path globs per task")
    return found


def literal_prefix(glob: str) -> str:
    """The text of ``glob`` before its first wildcard: every path it matches starts with it."""
    cut = min((i for i in (glob.find(ch) for ch in WILDCARDS) if i >= 0), default=len(glob))
    return glob[:cut]


def prefixes_conflict(a: str, b: str) -> bool:
    """Whether paths under prefix ``a`` and under prefix ``b`` may be the same path."""
    return a.startswith(b) or b.startswith(a)


def glob_prefixes(globs: Iterable[str]) -> dict[str, str]:
    """Each glob's literal prefix (:func:`literal_prefix`), the glob as the key."""
    return {glob: literal_prefix(glob) for glob in globs}


def covering_globs(files: Iterable[str], limit: int = MAX_GLOBS) -> list[str]:
    """Globs covering ``files`` (paths a previous attempt changed), at most ``limit`` of them.

    The files themselves while they are few enough; else their top folders (``src/**``), else
    everything (``**``). Names no glob may hold (a backslash, a line break) make it everything too:
    covering more than the attempt touched over-serialises, covering less could let two agents meet.
    """
    files = sorted(set(files))
    if any(glob_problem(f) for f in files):
        return ["**"]
    if len(files) <= limit:
        return files
    folders = sorted({f"{f.split('/', 1)[0]}/**" if "/" in f else f for f in files})
    return folders if len(folders) <= limit else ["**"]
