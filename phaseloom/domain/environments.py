"""Which of the orchestrator's environment variables the processes it starts may see. Pure rules over a dict.

A gate command (a project's tests, a linter) gets a minimal environment: what a program needs to
find its tools, its home, its locale and its temporary folder, and nothing of the orchestrator (its
database URL, tokens, provider keys). A preset's agent CLI gets an allowlist: that minimal
environment, what a networked program needs (proxies, certificates, XDG folders, git's identity),
and the variables its preset names (its provider's keys and base URLs, its own settings; see
``runtimes/presets``) or the user names in the ``agent_env`` setting; what the agent needs of
phaseloom is set explicitly by its runtime. A command of one's own (no preset: phaseloom cannot
know what it reads) gets the orchestrator's environment less phaseloom's own variables and the
database's secrets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

MINIMAL_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM",
    "TMPDIR", "TMP", "TEMP", "SYSTEMROOT", "COMSPEC", "PATHEXT",  # the last three: Windows needs them
})
MINIMAL_PREFIXES = ("LC_",)
# What any agent CLI may need besides: a proxy and its certificates, its XDG folders, git's identity.
AGENT_NAMES = frozenset({
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS",
    "COLUMNS", "NO_COLOR", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
})
AGENT_PREFIXES = ("XDG_",)
PRIVATE_PREFIXES = ("PHASELOOM_",)
PRIVATE_NAMES = frozenset({"DATABASE_URL", "PGPASSWORD", "PGPASSFILE"})


def _minimal(name: str) -> bool:
    return name in MINIMAL_NAMES or name.startswith(MINIMAL_PREFIXES)


def _private(name: str) -> bool:
    """phaseloom's own variables and the database's secrets: never handed on as they are."""
    return name.startswith(PRIVATE_PREFIXES) or name in PRIVATE_NAMES


def minimal_environment(source: Mapping[str, str], also: tuple[str, ...] = ()) -> dict[str, str]:
    """The variables of ``source`` every program needs, and those named in ``also``."""
    return {name: value for name, value in source.items() if _minimal(name) or name in also}


def agent_environment(source: Mapping[str, str], patterns: Iterable[str]) -> dict[str, str]:
    """A preset agent's share of ``source``: the minimal environment, :data:`AGENT_NAMES`, and the names
    matching ``patterns`` (exact names or globs such as ``ANTHROPIC_*``); never phaseloom's own."""
    wanted = tuple(patterns)

    def kept(name: str) -> bool:
        if _private(name):
            return False
        return (_minimal(name) or name in AGENT_NAMES or name.startswith(AGENT_PREFIXES)
                or any(fnmatchcase(name, p) for p in wanted))

    return {name: value for name, value in source.items() if kept(name)}


def without_orchestrator_secrets(source: Mapping[str, str]) -> dict[str, str]:
    """``source`` less phaseloom's own variables and the database's secrets."""
    return {name: value for name, value in source.items() if not _private(name)}


def split_names(text: str) -> tuple[str, ...]:
    """``"AWS_*, GOOGLE_APPLICATION_CREDENTIALS"`` -> its names (the ``agent_env`` setting)."""
    return tuple(part.strip() for part in text.replace(";", ",").split(",") if part.strip())
