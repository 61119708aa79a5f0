"""``phaseloom doctor``: is everything a real run needs here, and if not, what to do about it.

One row per check — each agent CLI preset (on PATH? its version against the one CI drives), the
database (reachable, schema at head), git, Chromium, and phaseloom's MCP server reached as a freshly
registered agent would reach it. Every row says ok / warn / fail and, when it is not ok, the fix.
A missing CLI is a warning (nobody needs all four) unless ``--require`` names it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import typer

from phaseloom.cli.context import console, state

# How each preset's CLI is installed at its tested version (``{version}`` is filled in).
INSTALL_COMMANDS = {
    "claude-code": "npm install -g @anthropic-ai/claude-code@{version}",
    "codex": "npm install -g @openai/codex@{version}",
    "opencode": "npm install -g opencode-ai@{version}",
    "aider": "pip install aider-chat=={version}",
}
CHROMIUM = Path("/usr/bin/chromium")
# Aider's first start takes a few seconds; a hung CLI must not hang the doctor.
VERSION_TIMEOUT_SECONDS = 20
_VERSION = re.compile(r"\d+(?:\.\d+)+")


@dataclass(frozen=True)
class Row:
    check: str
    status: str          # ok | warn | fail
    detail: str
    fix: str = ""


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor(
        require: Optional[list[str]] = typer.Option(
            None, "--require", help="An agent CLI that must be installed (preset or program name); repeatable."),
        mcp_url: str = typer.Option("", "--mcp-url", envvar="PHASELOOM_MCP_URL",
                                    help="Check this MCP endpoint instead of `phaseloom mcp` over stdio."),
        as_json: bool = typer.Option(False, "--json", help="Print the rows as a JSON list."),
    ) -> None:
        """Check the agent CLIs, the database, git, Chromium and the MCP server; exit 1 if anything fails."""
        rows = run_checks(required=_required_presets(require or []), mcp_url=mcp_url)
        if as_json:
            import json  # here: the table does not need it

            typer.echo(json.dumps([asdict(row) for row in rows], indent=2))
        else:
            print_rows(rows)
        if any(row.status == "fail" for row in rows):
            raise typer.Exit(1)


def _required_presets(names: list[str]) -> set[str]:
    from phaseloom.domain.errors import InvalidInput
    from phaseloom.runtimes.presets import PRESETS

    by_program = {preset.program: preset.name for preset in PRESETS.values()}
    required = set()
    for name in names:
        if name not in PRESETS and name not in by_program:
            raise InvalidInput(f"--require {name!r}: no such agent CLI; known: {', '.join(sorted(PRESETS))}")
        required.add(by_program.get(name, name))
    return required


def run_checks(*, required: set[str], mcp_url: str = "") -> list[Row]:
    """Every row, in a fixed order; the slow ones (CLI versions, the MCP round trip) run side by side."""
    from concurrent.futures import ThreadPoolExecutor

    from phaseloom.runtimes.presets import PRESETS

    with ThreadPoolExecutor(max_workers=len(PRESETS) + 3) as pool:
        clis = [pool.submit(cli_row, preset, required=preset.name in required) for preset in PRESETS.values()]
        store = pool.submit(database_and_mcp_rows, state.settings.database_url, mcp_url)
        git, chromium = pool.submit(git_row), pool.submit(chromium_row)
        return [*(future.result() for future in clis), *store.result(), git.result(), chromium.result()]


# -- agent CLIs -------------------------------------------------------------------------------
def cli_row(preset, *, required: bool) -> Row:
    install = INSTALL_COMMANDS.get(preset.name, "install {program}").format(
        version=preset.tested_version, program=preset.program)
    found = shutil.which(preset.program)
    if not found:
        return Row(preset.name, "fail" if required else "warn", f"{preset.program} not found on PATH", install)
    said, error = _run([found, *preset.version_argv], VERSION_TIMEOUT_SECONDS)
    version = _VERSION.search(said or "")
    if error or not version:
        return Row(preset.name, "fail" if required else "warn",
                   f"{found}: `{preset.program} {' '.join(preset.version_argv)}` "
                   f"{error or 'printed no version number'}", f"reinstall it: {install}")
    return _version_row(preset, found, version.group(), install)


def _version_row(preset, found: str, version: str, install: str) -> Row:
    tested = preset.tested_version
    if not tested or _numbers(version) == _numbers(tested):
        return Row(preset.name, "ok", f"{version} at {found}" + (" (the tested version)" if tested else ""))
    verdict = "newer, untested" if _numbers(version) > _numbers(tested) else "older"
    return Row(preset.name, "warn", f"{version} at {found}: {verdict} (tested: {tested})",
               f"for the tested version: {install}")


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _run(argv: list[str], timeout: float) -> tuple[str, str]:
    """``(output, error)``: stdout and stderr together, or why the command did not answer."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "", f"gave no answer within {timeout:g}s"
    except OSError as exc:
        return "", f"could not run: {exc.strerror or exc}"
    if proc.returncode != 0:
        said = (proc.stderr or proc.stdout).strip().splitlines()
        return "", f"exited {proc.returncode}" + (f": {said[-1][:200]}" if said else "")
    return proc.stdout + proc.stderr, ""


# -- the database, then the MCP server on it --------------------------------------------------
def database_and_mcp_rows(url: str, mcp_url: str) -> list[Row]:
    from sqlalchemy.engine import make_url

    from phaseloom.db.engine import Database, sqlite_file
    from phaseloom.db.engine import absolute_url as absolute_database_url

    shown = make_url(absolute_database_url(url)).render_as_string(hide_password=True)
    file = sqlite_file(url)
    if file is not None and not file.exists():  # connecting would create an empty file; say so instead
        return [Row("database", "fail", f"no database at {file.resolve()}",
                    "run `phaseloom init` (or pass --database-url)"),
                _mcp_skipped("the database is missing")]
    try:
        db = Database.connect(url)
    except Exception as exc:  # noqa: BLE001 - a bad URL is a row, not a traceback
        return [Row("database", "fail", f"{shown}: {_one_line(exc)}", "fix --database-url / PHASELOOM_DATABASE_URL"),
                _mcp_skipped("the database is unusable")]
    try:
        row = schema_row(db, shown)
        return [row, mcp_row(db, mcp_url) if row.status == "ok" else _mcp_skipped("the database is not ready")]
    finally:
        db.dispose()


def schema_row(db, shown: str) -> Row:
    from alembic.script import ScriptDirectory

    from phaseloom.db.migrate import alembic_config, current_revisions, head_revisions

    try:
        current = current_revisions(db.engine)
    except Exception as exc:  # noqa: BLE001 - the server is down, the password wrong, …
        return Row("database", "fail", f"{shown}: cannot connect: {_one_line(exc)}",
                   "check that the database server is running and the URL is right")
    heads = head_revisions()
    if current == heads:
        return Row("database", "ok", f"{shown}, schema up to date ({len(heads)} migration heads)")
    if not current:
        return Row("database", "fail", f"{shown} has no phaseloom schema", "run `phaseloom init`")
    script = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = sorted(current - known)
    if unknown:
        return Row("database", "fail", f"{shown} is at revision {', '.join(unknown)}, unknown to this phaseloom",
                   "upgrade phaseloom to the version that wrote this database")
    return Row("database", "warn", f"{shown} is behind (at {', '.join(sorted(current))}, head "
               f"{', '.join(sorted(heads))})", "run `phaseloom db upgrade` (any command also upgrades it)")


def mcp_row(db, mcp_url: str) -> Row:
    """Reach the MCP server as a fresh agent would: register one, check, then leave no trace of it."""
    from phaseloom.runtimes.mcp_check import check_mcp, mcp_launch_for

    launch = mcp_launch_for(db.url, mcp_url)
    where = mcp_url or "`phaseloom mcp` over stdio"
    try:
        with probe_agent(db) as token:
            result = check_mcp(launch, token)
    except Exception as exc:  # noqa: BLE001 - e.g. the agent could not be registered
        return Row("mcp", "fail", f"{where}: {_one_line(exc)}", "check the database row above")
    if not result.ok:
        # check_mcp words its error "what failed; how to fix it": the two columns.
        failed, _, fix = result.error.rpartition("; ")
        return Row("mcp", "fail", failed or fix, fix if failed else "")
    return Row("mcp", "ok", f"{where}: {len(result.tool_names)} tools, get_my_task and complete_task "
               f"among them ({result.seconds:.1f}s)")


@contextmanager
def probe_agent(db) -> Iterator[str]:
    """A temporary agent's fresh token; afterwards the agent is deregistered and its row (and token) removed."""
    from phaseloom.db.models import Agent
    from phaseloom.services.agents import AgentService
    from phaseloom.services.auth import AuthService
    from phaseloom.db.unit_of_work import UnitOfWork

    agent_id = f"doctor-{uuid.uuid4().hex[:8]}"
    AgentService(UnitOfWork(db)).register_agent("phaseloom doctor", agent_id=agent_id, runtime="doctor")
    try:
        yield AuthService(UnitOfWork(db)).issue_agent_token(agent_id)
    finally:
        AgentService(UnitOfWork(db)).deregister(agent_id, reason="phaseloom doctor finished")
        # No service forgets an agent; the probe held no task, so its row can go, and with it the
        # hash of its token (which so stops working). Its registered/deregistered events stay as history.
        uow = UnitOfWork(db)
        with uow:
            row = uow.session.get(Agent, agent_id)
            if row is not None:
                uow.session.delete(row)


def _mcp_skipped(why: str) -> Row:
    return Row("mcp", "warn", f"not checked: {why}", "fix the database row first")


# -- tools --------------------------------------------------------------------------------------
def git_row() -> Row:
    found = shutil.which("git")
    if not found:
        return Row("git", "fail", "git not found on PATH", "install git (e.g. `apt-get install git`)")
    said, error = _run([found, "--version"], 10)
    version = _VERSION.search(said)
    if error or not version:
        return Row("git", "fail", f"{found}: `git --version` {error or 'printed no version'}", "reinstall git")
    return Row("git", "ok", f"{version.group()} at {found}")


def chromium_row() -> Row:
    found = str(CHROMIUM) if CHROMIUM.is_file() else shutil.which("chromium")
    if not found:
        return Row("chromium", "warn", "not found (only the web UI's browser tests and screenshots need it)",
                   "install it (e.g. `apt-get install chromium`)")
    said, error = _run([found, "--version"], 15)
    version = _VERSION.search(said)
    return Row("chromium", "ok", f"{version.group() if version else 'found'} at {found}"
               + (f" (`--version` {error})" if error else ""))


def _one_line(exc: BaseException) -> str:
    # SQLAlchemy wraps the driver's error in its own text (SQL, a link); the driver's words are the message.
    text = " ".join(str(getattr(exc, "orig", None) or exc).split()) or type(exc).__name__
    return text[:300]


# -- output -------------------------------------------------------------------------------------
_STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def print_rows(rows: list[Row]) -> None:
    """A Rich table on a terminal; plain, aligned columns when piped (nothing wrapped or cut)."""
    if console.is_terminal:
        from rich.markup import escape
        from rich.table import Table

        table = Table("check", "status", "detail", "fix")
        for row in rows:
            table.add_row(row.check, f"[{_STYLES[row.status]}]{row.status}[/]", escape(row.detail), escape(row.fix))
        console.print(table)
        return
    cells = [("check", "status", "detail", "fix"), *((r.check, r.status, r.detail, r.fix) for r in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(3)]
    for line in cells:
        padded = [text.ljust(width) for text, width in zip(line[:3], widths, strict=True)]
        typer.echo("  ".join([*padded, line[3]]).rstrip())
