"""A phase's permissions, through plain ``phaseloom run``: each preset's read-only controls, the real
Claude Code, Codex and OpenCode honouring them and writing ``design.md`` through ``write_artifact``, Aider
run dry, a write outside a read_only phase's outputs reverted and the task failed with the file list, and
each preset's agent given only the environment its CLI reads.

The model behind the CLIs is the loopback fake of ``tests/runtimes/fake_models``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from phaseloom.domain.permissions import Permissions
from phaseloom.runtimes.command import CommandRuntime
from tests.runtimes.agent_e2e import READ_ONLY_WORKFLOW, git, make_project, model_turns
from tests.runtimes.conftest import make_assignment
from tests.runtimes.fake_models import Script, Step
from tests.runtimes.test_cli_claude_code import claude, provider_env  # noqa: F401 - claude is a fixture
from tests.runtimes.test_cli_codex import codex  # noqa: F401 - a fixture
from tests.runtimes.test_cli_codex import provider_env as codex_env
from tests.runtimes.test_cli_aider import aider  # noqa: F401 - a fixture
from tests.runtimes.test_cli_opencode import configure_provider as configure_opencode
from tests.runtimes.test_cli_opencode import opencode  # noqa: F401 - a fixture

DESIGN = "# Design\n\n## Components\nOne module.\n"
SUMMARY = "Wrote design.md"
REFUSED = "is not an output phase PHASE_DESIGN declares"


def log_text(project) -> str:
    return (project.folder / ".phaseloom" / "logs" / "task-1.log").read_text()


def assert_design_written(project, proc) -> None:
    [task] = project.tasks()
    assert task.status == "completed", (task.error, proc.stdout, proc.stderr)
    assert project.ticket_file("design.md") == DESIGN
    assert git(project.repo, "ls-tree", "-r", "--name-only", "ticket/1").split() == ["README.md", "design.md"]
    [written] = project.events("artifact.written")
    assert written.payload["path"] == "design.md" and written.payload["bytes"] == len(DESIGN)


# -- each preset's read-only controls ----------------------------------------------------------
@pytest.mark.parametrize(("preset", "expected"), [
    ("claude-code", ["--permission-mode", "default", "--allowedTools", "mcp__phaseloom",
                     "--disallowedTools", "Edit", "Write", "NotebookEdit", "Bash"]),
    ("codex", ["--sandbox", "read-only"]),
    ("aider", ["--dry-run"]),
])
def test_a_read_only_phase_gives_the_cli_its_read_only_flags(preset, expected, tmp_path, claimed):
    task, agent = claimed
    assignment = make_assignment(task, agent, tmp_path, permissions=Permissions.READ_ONLY)
    argv, _, _ = CommandRuntime(preset_name=preset).prepare(assignment)
    at = next(i for i in range(len(argv)) if argv[i:i + len(expected)] == expected)
    assert at > 0
    writable, _, _ = CommandRuntime(preset_name=preset).prepare(make_assignment(task, agent, tmp_path))
    assert writable[at:at + len(expected)] != expected


def test_opencode_read_only_denies_edits_and_shell_in_its_permission_setting(tmp_path, claimed):
    task, agent = claimed
    _, env, _ = CommandRuntime(preset_name="opencode").prepare(
        make_assignment(task, agent, tmp_path, permissions=Permissions.READ_ONLY))
    permission = json.loads(env["OPENCODE_PERMISSION"])
    assert (permission["edit"], permission["bash"], permission["phaseloom_*"]) == ("deny", "deny", "allow")
    _, writable, _ = CommandRuntime(preset_name="opencode").prepare(make_assignment(task, agent, tmp_path))
    assert json.loads(writable["OPENCODE_PERMISSION"])["edit"] == "allow"


def test_an_agent_sees_none_of_the_orchestrators_own_variables(tmp_path, claimed, monkeypatch):
    task, agent = claimed
    monkeypatch.setenv("PHASELOOM_DATABASE_URL", "postgresql://secret@db/prod")
    monkeypatch.setenv("PHASELOOM_GUARDIAN_JUDGE_API_KEY", "judge-secret")
    monkeypatch.setenv("PGPASSWORD", "pg-secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "the-users-key")
    assignment = make_assignment(task, agent, tmp_path, mcp_url="http://127.0.0.1:1/mcp")
    _, env, _ = CommandRuntime(preset_name="claude-code").prepare(assignment)
    assert not {"PHASELOOM_DATABASE_URL", "PHASELOOM_GUARDIAN_JUDGE_API_KEY", "PGPASSWORD"} & set(env)
    assert env["ANTHROPIC_API_KEY"] == "the-users-key"         # the CLI's own provider settings stay
    assert env["PHASELOOM_AGENT_TOKEN"] == "tok-123"            # what phaseloom hands the agent is set
    # Over stdio the agent's MCP server needs the database: given explicitly, as the preset's.
    _, stdio_env, _ = CommandRuntime(preset_name="claude-code").prepare(
        make_assignment(task, agent, tmp_path, mcp_url="", database_url="sqlite:////tmp/x.db"))
    assert stdio_env["PHASELOOM_DATABASE_URL"] == "sqlite:////tmp/x.db"


@pytest.mark.parametrize("preset", ["claude-code", "codex", "opencode", "aider"])
def test_a_preset_agent_gets_only_what_its_cli_reads(preset, tmp_path, claimed, monkeypatch):
    task, agent = claimed
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    monkeypatch.setenv("GITHUB_TOKEN", "gh-secret")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    assignment = make_assignment(task, agent, tmp_path, mcp_url="http://127.0.0.1:1/mcp")
    _, env, _ = CommandRuntime(preset_name=preset).prepare(assignment)
    assert not {"AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN"} & set(env)
    assert env["HTTPS_PROXY"] == "http://proxy:3128" and env["PATH"] and env["HOME"]
    # What the user names in the agent_env setting passes too.
    _, named, _ = CommandRuntime(preset_name=preset).prepare(
        make_assignment(task, agent, tmp_path, mcp_url="http://127.0.0.1:1/mcp", agent_env=("AWS_*",)))
    assert named["AWS_SECRET_ACCESS_KEY"] == "aws-secret" and "GITHUB_TOKEN" not in named


def test_each_cli_gets_the_variables_its_own_configuration_names(tmp_path, claimed, monkeypatch):
    """Codex's provider ``env_key``, OpenCode's ``{env:VAR}``, Claude Code's Bedrock credentials when told to use it."""
    task, agent = claimed
    codex_home, xdg = tmp_path / "codex", tmp_path / "xdg"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text('[model_providers.corp]\nbase_url = "http://x"\nenv_key = "CORP_KEY"\n')
    (xdg / "opencode").mkdir(parents=True)
    (xdg / "opencode" / "opencode.json").write_text('{"provider": {"corp": {"options": {"apiKey": "{env:CORP_OC}"}}}}')
    for name, value in {"CODEX_HOME": str(codex_home), "XDG_CONFIG_HOME": str(xdg), "CORP_KEY": "k1",
                        "CORP_OC": "k2", "AWS_ACCESS_KEY_ID": "aws"}.items():
        monkeypatch.setenv(name, value)
    assignment = make_assignment(task, agent, tmp_path, mcp_url="http://127.0.0.1:1/mcp")

    def env_of(preset: str) -> dict[str, str]:
        return CommandRuntime(preset_name=preset).prepare(assignment)[1]

    assert env_of("codex")["CORP_KEY"] == "k1" and "CORP_OC" not in env_of("codex")
    assert env_of("opencode")["CORP_OC"] == "k2" and "CORP_KEY" not in env_of("opencode")
    assert "AWS_ACCESS_KEY_ID" not in env_of("claude-code")
    monkeypatch.setenv("CLAUDE_CODE_USE_BEDROCK", "1")
    assert env_of("claude-code")["AWS_ACCESS_KEY_ID"] == "aws"


def test_a_command_of_ones_own_gets_the_database_its_stdio_mcp_server_needs(tmp_path, claimed, monkeypatch):
    """No preset writes its MCP configuration: it starts `phaseloom mcp` itself, which needs the database
    (without it every run ended "no phaseloom database here" and its tickets never left their phase)."""
    task, agent = claimed
    monkeypatch.setenv("PHASELOOM_DATABASE_URL", "postgresql://secret@db/prod")
    _, env, _ = CommandRuntime(["my-agent"]).prepare(
        make_assignment(task, agent, tmp_path, mcp_url="", database_url="sqlite:////tmp/x.db"))
    assert env["PHASELOOM_DATABASE_URL"] == "sqlite:////tmp/x.db"      # this run's database, not the variable
    _, served, _ = CommandRuntime(["my-agent"]).prepare(
        make_assignment(task, agent, tmp_path, mcp_url="http://127.0.0.1:1/mcp", database_url="sqlite:////tmp/x.db"))
    assert "PHASELOOM_DATABASE_URL" not in served and served["PHASELOOM_MCP_URL"] == "http://127.0.0.1:1/mcp"


# -- the real CLIs --------------------------------------------------------------------------
def claude_script() -> Script:
    return Script(steps=[Step(tool="mcp__phaseloom__get_my_task"),
                         Step(tool="mcp__phaseloom__write_artifact", args={"path": "src/app.py", "content": "x = 1\n"}),
                         Step(tool="mcp__phaseloom__write_artifact", args={"path": "design.md", "content": DESIGN}),
                         Step(tool="mcp__phaseloom__complete_task", args={"result": SUMMARY}),
                         Step(text="design.md is written.")])


def test_claude_code_read_only_phase_writes_only_its_design_through_write_artifact(claude, model, tmp_path):  # noqa: F811
    project = make_project(tmp_path, workflow=READ_ONLY_WORKFLOW, title="Design the greeter")
    model.script = claude_script()
    model.requests.clear()
    proc = project.run("command:claude-code", provider_env(model), max_seconds=150)

    assert "permissions read_only: --permission-mode default --allowedTools mcp__phaseloom --disallowedTools" in log_text(project)
    turns = model_turns(model)
    offered = {tool["name"] for tool in turns[0].body["tools"]}
    assert not {"Edit", "Write", "NotebookEdit", "Bash"} & offered      # the real CLI removed them
    assert {"Read", "mcp__phaseloom__write_artifact"} <= offered
    # The undeclared path was refused with the reason, and nothing of it reached the ticket.
    assert REFUSED in json.dumps(turns[2].body)
    assert_design_written(project, proc)


def codex_script() -> Script:
    patch = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"
    return Script(steps=[Step(tool="*get_my_task"), Step(tool="apply_patch", args={"input": patch}),
                         Step(tool="*write_artifact", args={"path": "design.md", "content": DESIGN}),
                         Step(tool="*complete_task", args={"result": SUMMARY}), Step(text="design.md is written.")])


def test_codex_read_only_sandbox_refuses_its_patch_and_writes_the_design(codex, model, tmp_path):  # noqa: F811
    project = make_project(tmp_path, workflow=READ_ONLY_WORKFLOW, title="Design the greeter")
    model.script = codex_script()
    model.requests.clear()
    proc = project.run("command:codex", codex_env(project, model), max_seconds=150)

    assert "permissions read_only: --sandbox read-only" in log_text(project)
    assert "read-only" in json.dumps(model_turns(model)[0].body)        # Codex tells the model its sandbox
    # Codex's own words: its sandbox refused the patch (no file_change item follows).
    assert "patch rejected: writing is blocked by read-only sandbox" in log_text(project)
    assert '"file_change"' not in log_text(project)
    assert_design_written(project, proc)


def test_opencode_read_only_phase_is_offered_no_editing_tool_and_writes_its_design(opencode, model, tmp_path):  # noqa: F811
    project = make_project(tmp_path, workflow=READ_ONLY_WORKFLOW, title="Design the greeter")
    model.script = Script(steps=[Step(tool="phaseloom_get_my_task"),
                                 Step(tool="phaseloom_write_artifact", args={"path": "src/app.py", "content": "x = 1\n"}),
                                 Step(tool="phaseloom_write_artifact", args={"path": "design.md", "content": DESIGN}),
                                 Step(tool="phaseloom_complete_task", args={"result": SUMMARY}),
                                 Step(text="design.md is written.")])
    model.requests.clear()
    configure_opencode(project, model)
    proc = project.run("command:opencode", {"OPENCODE_DISABLE_MODELS_FETCH": "1"}, max_seconds=150)

    assert "permissions read_only: OPENCODE_PERMISSION=…" in log_text(project)
    turns = model_turns(model)
    offered = {tool.get("function", tool).get("name") for tool in turns[0].body["tools"]}
    assert not {"write", "edit", "bash", "patch", "apply_patch"} & offered   # OpenCode dropped them itself
    assert {"read", "phaseloom_write_artifact"} <= offered
    assert REFUSED in json.dumps(turns[2].body)
    assert_design_written(project, proc)


def test_aider_read_only_phase_runs_it_dry_and_its_edit_never_lands(aider, model, tmp_path):  # noqa: F811
    """Aider has no MCP client, so a read_only phase can only read: ``--dry-run`` shows its edit without
    making it, the worktree is unchanged and the phase's output is missing, so the task is not done."""
    from tests.runtimes.test_cli_aider import HELLO_REPLY
    from tests.runtimes.test_cli_aider import provider_env as aider_env

    project = make_project(tmp_path, workflow=READ_ONLY_WORKFLOW, title="Design the greeter")
    model.script = Script(steps=[Step(text=HELLO_REPLY)])
    model.requests.clear()
    proc = project.run("command:aider", aider_env(project, model), max_seconds=120)

    assert "permissions read_only: --dry-run" in log_text(project)
    assert len(model.model_requests()) == 1                               # it did ask the model
    [task] = project.tasks()
    assert task.status == "failed", (task.error, proc.stdout)
    assert "changed nothing in its worktree" in task.error
    worktree = Path(next(e.payload["path"] for e in project.events("workspace.prepared")))
    assert not (worktree / "hello.txt").exists()                          # the dry run wrote nothing
    assert git(project.repo, "ls-tree", "-r", "--name-only", "ticket/1").split() == ["README.md"]


def test_claude_codes_own_shell_sees_none_of_the_orchestrators_secrets(claude, model, tmp_path):  # noqa: F811
    """The real CLI runs `env` through its Bash tool (a ``full`` phase allows it): the fake model's next
    request carries what the agent's environment holds."""
    from tests.runtimes.agent_e2e import WORKFLOW
    from tests.runtimes.test_cli_claude_code import hello_file

    workflow = tmp_path / "full.yaml"
    workflow.write_text(WORKFLOW.read_text().replace("    sequence_order: 0\n", "    sequence_order: 0\n"
                                                                                "    permissions: full\n", 1))
    project = make_project(tmp_path / "p", workflow=workflow)
    model.script = Script(steps=[Step(tool="mcp__phaseloom__get_my_task"),
                                 Step(tool="Bash", args={"command": "env", "description": "Show the environment"}),
                                 Step(tool="Write", args=hello_file),
                                 Step(tool="mcp__phaseloom__complete_task", args={"result": SUMMARY}),
                                 Step(text="hello.txt is written.")])
    model.requests.clear()
    secrets = {"AWS_SECRET_ACCESS_KEY": "aws-secret-1", "GITHUB_TOKEN": "gh-secret-2",
               "PHASELOOM_GUARDIAN_JUDGE_API_KEY": "judge-secret-3", "PHASELOOM_API_TOKEN": "api-secret-4",
               "PGPASSWORD": "pg-secret-5"}
    proc = project.run("command:claude-code", {**provider_env(model), **secrets}, max_seconds=150)

    [task] = project.tasks()
    assert task.status == "completed", (task.error, proc.stdout, proc.stderr)
    shown = next(t.body for t in model_turns(model) if "ANTHROPIC_BASE_URL=" in json.dumps(t.body))
    seen = json.dumps(shown)
    assert "HOME=" in seen and "PATH=" in seen and "PHASELOOM_AGENT_TOKEN=" in seen   # what it needs
    assert not [name for name, value in secrets.items() if value in seen or f"{name}=" in seen], seen[-3000:]


# -- phaseloom's own check, whatever the runtime ---------------------------------------------------
AGENT = """
import pathlib
pathlib.Path("design.md").write_text("# Design\\n")
pathlib.Path("README.md").write_text("overwritten\\n")
pathlib.Path("src").mkdir()
pathlib.Path("src/app.py").write_text("x = 1\\n")
"""


def test_a_write_outside_a_read_only_phases_outputs_is_reverted_and_fails_the_task(tmp_path):
    project = make_project(tmp_path, workflow=READ_ONLY_WORKFLOW, title="Design the greeter")
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    proc = project.phaseloom("run", "--agent-command", f"{sys.executable} {script}", "--workers", "1",
                             "--validators", "0", "--quiet", "--until-idle", "--max-seconds", "60", check=False)

    [task] = project.tasks()
    assert task.status == "failed", (task.error, proc.stdout, proc.stderr)
    assert task.error.startswith("out_of_bounds: phase PHASE_DESIGN is read_only and allows only its declared "
                                 "outputs (design.md); the agent changed 2 other file(s), reverted: README.md, src/app.py")
    [refused] = project.events("task.changes_refused")
    assert refused.payload["files"] == ["README.md", "src/app.py"]
    # The run says so as it ends, files and all (not only the ticket page): no silent stall in the phase.
    assert ("task 1 (PHASE_DESIGN, ticket #1) failed: out_of_bounds: phase PHASE_DESIGN is read_only"
            in proc.stdout) and "reverted: README.md, src/app.py" in proc.stdout, proc.stdout
    worktree = Path(next(e.payload["path"] for e in project.events("workspace.prepared")))
    assert (worktree / "README.md").read_text() == "# demo\n"           # restored
    assert not (worktree / "src" / "app.py").exists()                   # removed
    assert (worktree / "design.md").exists()                            # its declared output is left
    merged = subprocess.run(["git", "ls-tree", "-r", "--name-only", "ticket/1"], cwd=project.repo,
                            capture_output=True, text=True, check=True).stdout.split()
    assert merged == ["README.md"] and project.ticket_file("README.md") == "# demo\n"   # nothing merged
    # What was reverted is not lost: the worktree as the agent left it is a snapshot of the task.
    from phaseloom.workspaces import snapshots

    [snap] = [s for s in snapshots(project.repo, task.id) if "permissions" in s.reason]

    def kept(name: str) -> str:
        return subprocess.run(["git", "show", f"{snap.commit}:{name}"], cwd=project.repo, capture_output=True,
                              text=True, check=True).stdout

    assert kept("README.md") == "overwritten\n" and kept("src/app.py") == "x = 1\n"
