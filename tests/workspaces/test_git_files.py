"""git_files answers from git's files only when they clearly say yes; git itself is the reference."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from phaseloom.workspaces import git_files

ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@t"}


def run(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=ENV).stdout


def repo_with_commit(path: Path, branch: str = "trunk") -> Path:
    path.mkdir()
    run(path, "init", "-q", "-b", branch)
    (path / "a.txt").write_text("a\n")
    run(path, "add", "-A")
    run(path, "commit", "-q", "-m", "first")
    return path


def test_head_branch_and_loose_branches_match_git(tmp_path):
    repo = repo_with_commit(tmp_path / "repo")
    run(repo, "branch", "ticket/7")
    assert git_files.head_branch(repo) == "trunk"
    assert git_files.has_loose_branch(repo, "ticket/7")
    assert not git_files.has_loose_branch(repo, "ticket/8")
    assert not git_files.has_loose_branch(repo, "../HEAD")


def test_packed_refs_and_detached_heads_are_left_to_git(tmp_path):
    repo = repo_with_commit(tmp_path / "repo")
    run(repo, "branch", "packed")
    run(repo, "pack-refs", "--all")
    assert not git_files.has_loose_branch(repo, "packed")  # "don't know": the caller asks git
    run(repo, "checkout", "-q", "--detach")
    assert git_files.head_branch(repo) is None
    assert git_files.head_branch(tmp_path) is None  # not a repository at all


def test_worktree_branch_follows_the_worktree_and_refuses_a_foreign_link(tmp_path):
    repo = repo_with_commit(tmp_path / "repo")
    tree = tmp_path / "tree"
    run(repo, "worktree", "add", "-q", "-b", "work", str(tree))
    assert git_files.worktree_branch(tree) == "work"
    run(tree, "checkout", "-q", "-b", "other")
    assert git_files.worktree_branch(tree) == "other"

    # A copy of the folder points at the same admin folder, which points back at the original.
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / ".git").write_text((tree / ".git").read_text())
    assert git_files.worktree_branch(copy) is None
    assert git_files.worktree_branch(repo) is None  # a main checkout is not a linked worktree
    (tree / ".git").write_text("garbage")
    assert git_files.worktree_branch(tree) is None


def test_head_commit_matches_git_in_checkouts_and_worktrees_and_defers_packed_refs(tmp_path):
    repo = repo_with_commit(tmp_path / "repo")
    run(repo, "worktree", "add", "-q", "-b", "agent/1", str(tmp_path / "wt"))
    (tmp_path / "wt" / "b.txt").write_text("b\n")
    run(tmp_path / "wt", "add", "-A")
    run(tmp_path / "wt", "commit", "-q", "-m", "second")
    for path in (repo, tmp_path / "wt"):
        assert git_files.head_commit(path) == run(path, "rev-parse", "HEAD").strip()
    assert git_files.head_commit(tmp_path / "wt") != git_files.head_commit(repo)
    run(repo, "checkout", "-q", "--detach")
    assert git_files.head_commit(repo) == run(repo, "rev-parse", "HEAD").strip()
    run(repo, "pack-refs", "--all")
    assert git_files.head_commit(tmp_path / "wt") is None  # only packed now: git must answer
    assert git_files.head_commit(tmp_path / "nothing") is None
    unborn = tmp_path / "unborn"
    unborn.mkdir()
    run(unborn, "init", "-q", "-b", "main")
    assert git_files.head_commit(unborn) is None
