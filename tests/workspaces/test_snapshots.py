"""Snapshots of a worktree with real git: byte for byte, modes and the index kept, nothing touched."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phaseloom.domain.errors import InvalidInput
from phaseloom.workspaces import (
    git,
    is_worktree,
    read_snapshot,
    remove_worktree,
    restore_into_folder,
    restore_into_worktree,
    snapshots,
    take_snapshot,
    unsaved_changes,
)

ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@t"}


def _repo(path: Path) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    (path / ".gitignore").write_text("*.log\nbuild/\n")
    (path / "app.py").write_text("VALUE = 1\n")
    (path / "tool.sh").write_text("#!/bin/sh\necho hi\n")
    (path / "tool.sh").chmod(0o755)
    (path / "gone.txt").write_text("to be deleted\n")
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "initial"], cwd=path, check=True, env=ENV)
    return path


def _worktree(repo: Path, path: Path, branch: str = "work") -> Path:
    git(repo, "worktree", "add", "-q", "-b", branch, str(path), "main")
    return path


def _files(root: Path) -> dict[str, tuple[bytes, bool]]:
    """Every file but git's own and the ignored: content and whether it is executable."""
    found = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if rel == ".git" or rel.startswith(".git/") or path.is_dir() or path.suffix == ".log" or "build/" in rel:
            continue
        if path.is_symlink():
            found[rel] = (os.readlink(path).encode(), False)
        else:
            found[rel] = (path.read_bytes(), bool(path.stat().st_mode & stat.S_IXUSR))
    return found


def _dirty(wt: Path) -> None:
    (wt / "app.py").write_text("VALUE = 2\n")                           # modified, unstaged
    (wt / "staged.py").write_text("STAGED = True\n")
    git(wt, "add", "staged.py")                                        # new, staged
    (wt / "staged.py").write_text("STAGED = 'then changed'\n")         # ... and changed after
    (wt / "gone.txt").unlink()                                         # deleted
    (wt / "blob.bin").write_bytes(bytes(range(256)) * 4 + b"\0\r\n\xff")  # untracked binary
    (wt / "run.sh").write_text("#!/bin/sh\n")
    (wt / "run.sh").chmod(0o755)                                       # untracked, executable
    (wt / "tool.sh").chmod(0o644)                                      # mode change only
    (wt / "link").symlink_to("app.py")
    (wt / "deep" / "er").mkdir(parents=True)
    (wt / "deep" / "er" / "x.txt").write_text("nested\n")
    (wt / "debug.log").write_text("ignored\n")                         # ignored: not in a snapshot


def test_a_snapshot_keeps_every_file_and_the_index_without_touching_the_worktree(tmp_path):
    repo = _repo(tmp_path / "repo")
    wt = _worktree(repo, tmp_path / "wt")
    _dirty(wt)
    before_status, before_files = unsaved_changes(wt), _files(wt)
    branch_tip = git(repo, "rev-parse", "work").strip()

    snap = take_snapshot(wt, 7, "test")

    assert snap is not None and snap.n == 1 and snap.ref == "refs/phaseloom/snapshots/task-7/1"
    assert git(repo, "rev-parse", snap.ref).strip() == snap.commit
    assert unsaved_changes(wt) == before_status and _files(wt) == before_files  # nothing touched
    assert git(repo, "rev-parse", "work").strip() == branch_tip and snap.base == branch_tip
    assert snap.files == 8 and snap.reason == "test" and snap.worktree == str(wt.resolve())
    listed = git(repo, "ls-tree", "-r", "--name-only", snap.commit).split()
    assert "debug.log" not in listed and "gone.txt" not in listed and "blob.bin" in listed
    # The index parent holds the staged state: staged.py as first added, app.py as committed.
    assert git(repo, "show", f"{snap.index}:staged.py") == "STAGED = True\n"
    assert git(repo, "show", f"{snap.index}:app.py") == "VALUE = 1\n"

    out = tmp_path / "restored"
    restore_into_folder(repo, snap, out)
    assert _files(out) == {k: v for k, v in before_files.items()}


def test_restore_into_a_clean_worktree_round_trips_files_modes_and_index(tmp_path):
    repo = _repo(tmp_path / "repo")
    wt = _worktree(repo, tmp_path / "wt")
    _dirty(wt)
    before_status, before_files = unsaved_changes(wt), _files(wt)
    snap = take_snapshot(wt, 3, "before a reset")
    git(wt, "reset", "--hard", "-q")
    git(wt, "clean", "-fdq")
    assert not unsaved_changes(wt)

    restore_into_worktree(wt, snap)

    assert _files(wt) == before_files
    assert unsaved_changes(wt) == before_status  # staged stays staged, untracked stays untracked
    assert git(wt, "symbolic-ref", "--short", "HEAD").strip() == "work"


def test_restore_refuses_a_worktree_with_unsaved_changes_and_changes_nothing(tmp_path):
    repo = _repo(tmp_path / "repo")
    wt = _worktree(repo, tmp_path / "wt")
    (wt / "app.py").write_text("VALUE = 3\n")
    snap = take_snapshot(wt, 1, "one")
    (wt / "mine.txt").write_text("the user's own\n")
    with pytest.raises(InvalidInput, match="unsaved changes"):
        restore_into_worktree(wt, snap)
    assert (wt / "mine.txt").read_text() == "the user's own\n" and (wt / "app.py").read_text() == "VALUE = 3\n"
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InvalidInput, match="not an empty folder"):
        restore_into_folder(repo, snap, tmp_path / "full")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["x"]


def test_snapshots_are_numbered_listed_and_a_clean_worktree_needs_none(tmp_path):
    repo = _repo(tmp_path / "repo")
    wt = _worktree(repo, tmp_path / "wt")
    assert take_snapshot(wt, 5, "clean") is None
    (wt / "a.txt").write_text("a")
    first = take_snapshot(wt, 5, "first")
    (wt / "b.txt").write_text("b")
    second = take_snapshot(wt, 5, "second\nline")
    assert [(s.n, s.reason, s.files) for s in snapshots(repo, 5)] == [(1, "first", 1), (2, "second line", 2)]
    assert read_snapshot(repo, 5) == second and read_snapshot(repo, 5, 1) == first
    assert snapshots(repo, 55) == []
    with pytest.raises(InvalidInput, match="no snapshot 9"):
        read_snapshot(repo, 5, 9)
    with pytest.raises(InvalidInput, match="has no snapshots"):
        read_snapshot(repo, 6)


def test_a_conflicted_merge_is_snapshotted_without_its_index(tmp_path):
    repo = _repo(tmp_path / "repo")
    wt = _worktree(repo, tmp_path / "wt")
    (wt / "app.py").write_text("VALUE = 'branch'\n")
    subprocess.run(["git", "commit", "-qam", "branch"], cwd=wt, check=True, env=ENV)
    (repo / "app.py").write_text("VALUE = 'main'\n")
    subprocess.run(["git", "commit", "-qam", "main"], cwd=repo, check=True, env=ENV)
    subprocess.run(["git", "merge", "work"], cwd=repo, capture_output=True, env=ENV)
    snap = take_snapshot(repo, 9, "conflict")
    assert snap is not None and snap.index is None
    assert "<<<<<<<" in git(repo, "show", f"{snap.commit}:app.py")


# -- cleanup never deletes unsaved work ----------------------------------------------------------
FILE_STATES = ("modified", "untracked", "ignored", "staged", "deleted", "staged_then_deleted", "committed")


def _apply(wt: Path, index: int, state: str) -> None:
    name = f"f{index}"
    if state == "modified":
        (wt / "app.py").write_text(f"VALUE = {index}\n")
    elif state == "untracked":
        (wt / f"{name}.txt").write_bytes(os.urandom(16))
    elif state == "ignored":
        (wt / f"{name}.log").write_text("ignored\n")
    elif state == "staged":
        (wt / f"{name}.py").write_text(f"N = {index}\n")
        git(wt, "add", f"{name}.py")
    elif state == "deleted":
        (wt / "gone.txt").unlink(missing_ok=True)
    elif state == "staged_then_deleted":
        (wt / f"{name}.md").write_text("staged, then the file removed\n")
        git(wt, "add", f"{name}.md")
        (wt / f"{name}.md").unlink()
    elif state == "committed":
        (wt / f"{name}.c").write_text("int x;\n")
        git(wt, "add", f"{name}.c")
        subprocess.run(["git", "commit", "-qm", name], cwd=wt, check=True, env=ENV)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(states=st.lists(st.sampled_from(FILE_STATES), max_size=6), detach=st.booleans())
def test_removing_a_worktree_never_loses_what_only_it_held(tmp_path_factory, states, detach):
    """Whatever is in the folder (changes, untracked files, commits no branch has): after removal a
    snapshot or a branch holds every file that was not ignored, byte for byte."""
    base = tmp_path_factory.mktemp("prop")
    repo = _repo(base / "repo")
    wt = _worktree(repo, base / "wt")
    for i, state in enumerate(states):
        _apply(wt, i, state)
    if detach:  # commits on a detached head: no branch holds them once the folder is gone
        git(wt, "checkout", "-q", "--detach")
        (wt / "detached.txt").write_text("committed on no branch\n")
        git(wt, "add", "detached.txt")
        subprocess.run(["git", "commit", "-qm", "detached"], cwd=wt, check=True, env=ENV)
    expected, head = _files(wt), git(wt, "rev-parse", "HEAD").strip()

    snap = remove_worktree(repo, wt, 1, "property")

    assert not wt.exists() and not is_worktree(wt)
    if snap is None:  # nothing was unsaved: the commit is on a branch and matches the files
        assert git(repo, "branch", "--contains", head).strip()
        holder = head
    else:
        holder = snap.commit
    out = base / "out"
    restore_into_folder(repo, read_snapshot(repo, 1) if snap else _as_snapshot(repo, holder), out)
    assert _files(out) == expected


def _as_snapshot(repo: Path, commit: str):
    from datetime import datetime

    from phaseloom.workspaces import Snapshot

    return Snapshot(1, 0, commit, datetime.now(), "", 0, "", None, None)
