"""Defaults from the project, in real git repositories made in the test's folder (``git init``,
``git worktree add``, ``git switch``), read without the git binary; outside any repository;
and the precedence of manifest, pyproject.toml, package.json and folder names."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import forked
import pytest
from repos import git, make_repo, needs_git

from aioports import ConfigError, InvalidArgumentError, ManifestError
from aioports._project import Project, find_project


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@needs_git
def test_the_main_checkout(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "shop")
    project = find_project(repo)
    assert project == Project(
        root=repo, app="shop", worktree=str(repo), branch="main", manifest=None,
        app_source="git", commit=None, linked=False,
    )  # fmt: skip
    (repo / "src" / "pkg").mkdir(parents=True)
    assert find_project(repo / "src" / "pkg") == project  # the same from any subfolder
    assert project.service == "default"


@needs_git
def test_a_fresh_repository_without_commits(tmp_path: Path) -> None:
    repo = tmp_path / "new"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main", "--template=")
    project = find_project(repo)
    assert (project.branch, project.worktree, project.app) == ("main", str(repo), "new")


@needs_git
def test_linked_worktrees_are_keys_of_their_own(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "shop")
    git(repo, "worktree", "add", "-q", "-b", "feature/x", str(tmp_path / "wt-x"))
    git(repo, "worktree", "add", "-q", "-b", "fix", str(tmp_path / "wt-fix"))
    main = find_project(repo)
    linked = find_project(tmp_path / "wt-x")
    other = find_project(tmp_path / "wt-fix")
    assert linked.worktree == str((tmp_path / "wt-x").resolve())
    assert len({main.worktree, linked.worktree, other.worktree}) == 3
    assert (linked.branch, other.branch) == ("feature/x", "fix")
    # The app is the main checkout's folder name in every worktree.
    assert {main.app, linked.app, other.app} == {"shop"}
    assert (main.linked, linked.linked, linked.app_source) == (False, True, "git")


@needs_git
def test_switching_branches_keeps_the_worktree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "shop")
    git(repo, "worktree", "add", "-q", "-b", "feature", str(tmp_path / "wt"))
    before = find_project(repo), find_project(tmp_path / "wt")
    git(repo, "switch", "-q", "-c", "other")
    git(tmp_path / "wt", "switch", "-q", "-c", "feature-2")
    after = find_project(repo), find_project(tmp_path / "wt")
    assert [p.worktree for p in after] == [p.worktree for p in before]
    assert [p.branch for p in after] == ["other", "feature-2"]


@needs_git
def test_a_detached_head_has_no_branch_but_its_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "shop")
    git(repo, "switch", "-q", "--detach", "HEAD")
    project = find_project(repo)
    assert project.branch is None
    assert project.commit == git(repo, "rev-parse", "HEAD").strip()
    assert project.worktree == str(repo)


@needs_git
def test_a_worktree_of_a_bare_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "source")
    git(tmp_path, "clone", "-q", "--bare", str(repo), "shop.git")
    git(tmp_path / "shop.git", "worktree", "add", "-q", str(tmp_path / "wt"), "main")
    project = find_project(tmp_path / "wt")
    assert (project.app, project.branch, project.linked) == ("shop", "main", True)
    # Inside the bare repository itself there is no checkout: the folder's name.
    inside = find_project(tmp_path / "shop.git")
    assert (inside.app_source, inside.branch) == ("folder", None)


@needs_git
def test_without_the_git_binary(tmp_path: Path) -> None:
    """The same answers from a process that cannot run git at all (PATH has no git)."""
    repo = make_repo(tmp_path / "shop")
    git(repo, "worktree", "add", "-q", "-b", "feature/y", str(tmp_path / "wt"))
    empty = tmp_path / "no-binaries"
    empty.mkdir()
    code = (
        "import json, sys; from pathlib import Path; from aioports._project import find_project\n"
        "p = find_project(Path(sys.argv[1]))\n"
        "print(json.dumps([p.app, p.worktree, p.branch, p.app_source, p.linked]))"
    )
    for folder in (repo, tmp_path / "wt"):
        said = forked.run(
            code, str(folder), env={"PATH": str(empty), "HOME": str(tmp_path / "home")}
        )
        expected = find_project(folder)
        assert json.loads(said) == [
            expected.app,
            expected.worktree,
            expected.branch,
            expected.app_source,
            expected.linked,
        ]
    assert shutil.which("git", path=str(empty)) is None


def test_outside_any_repository(tmp_path: Path) -> None:
    folder = tmp_path / "scratch"
    folder.mkdir()
    project = find_project(folder)
    assert project == Project(
        root=folder, app="scratch", worktree=str(folder), branch=None, manifest=None,
        app_source="folder",
    )  # fmt: skip


def test_outside_git_the_worktree_is_the_project_folder(tmp_path: Path) -> None:
    _write(tmp_path / "app" / "package.json", '{"name": "front"}')
    (tmp_path / "app" / "src").mkdir()
    project = find_project(tmp_path / "app" / "src")
    assert (project.root, project.worktree) == (tmp_path / "app", str(tmp_path / "app"))
    assert (project.app, project.app_source) == ("front", "package.json")


def test_the_current_folder_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_project().worktree == str(tmp_path)


def test_a_symbolic_link_resolves_to_the_real_folder(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / ".git").mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)
    assert find_project(tmp_path / "link").worktree == str(real)


def test_app_precedence(tmp_path: Path) -> None:
    repo = tmp_path / "checkout"
    (repo / ".git").mkdir(parents=True)
    _write(repo / ".git" / "HEAD", "ref: refs/heads/main\n")
    here = repo / "web"
    here.mkdir()

    def app() -> tuple[str, str]:
        project = find_project(here)
        return project.app, project.app_source

    assert app() == ("checkout", "git")
    _write(repo / "package.json", json.dumps({"name": "@shop/web", "private": True}))
    assert app() == ("@shop/web", "package.json")
    _write(repo / "pyproject.toml", '[project]\nname = "shop-py"\n')
    assert app() == ("shop-py", "pyproject")
    _write(repo / "pyproject.toml", '[project]\nname = "shop-py"\n[tool.aioports]\napp = "a"\n')
    assert app() == ("a", "manifest")
    _write(repo / ".aioports.toml", 'app = "b"\n')  # wins over [tool.aioports]
    assert app() == ("b", "manifest")
    _write(repo / ".aioports.toml", "[services]\nweb = {}\n")  # no app: the pyproject's name
    assert app() == ("shop-py", "pyproject")
    project = find_project(here)
    assert project.manifest is not None
    assert project.manifest.path == repo / ".aioports.toml"
    assert project.service == "web"


def test_the_nearest_project_file_gives_the_root(tmp_path: Path) -> None:
    repo = tmp_path / "mono"
    (repo / ".git").mkdir(parents=True)
    _write(repo / "pyproject.toml", '[project]\nname = "mono"\n')
    _write(repo / "frontend" / "package.json", '{"name": "front"}')
    (repo / "frontend" / "src").mkdir()
    project = find_project(repo / "frontend" / "src")
    assert project.root == repo / "frontend"
    assert project.worktree == str(repo)
    assert project.app == "mono"  # pyproject.toml's name comes before package.json's


def test_nameless_project_files_are_passed_over(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    (repo / ".git").mkdir(parents=True)
    _write(repo / "package.json", '{"name": "outer"}')
    _write(repo / "inner" / "package.json", '{"private": true}')
    _write(repo / "inner" / "pyproject.toml", "[tool.ruff]\n")
    assert find_project(repo / "inner").app == "outer"


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("package.json", "{not json", "not JSON"),
        ("package.json", '{"name": 5}', "at name: expected text"),
        ("package.json", '{"name": ""}', "at name: it is empty"),
        ("pyproject.toml", "[project\n", "not TOML"),
        ("pyproject.toml", "[project]\nname = 5\n", "at project.name: expected text"),
        ("pyproject.toml", "[tool.aioports]\ncolour = 1\n", "at tool.aioports.colour"),
        (".aioports.toml", "app = ''\n", "at app: it is empty"),
    ],
)
def test_unusable_project_files_are_errors(
    tmp_path: Path, name: str, text: str, words: str
) -> None:
    path = _write(tmp_path / "p" / name, text)
    with pytest.raises(ManifestError, match=words) as caught:
        find_project(tmp_path / "p")
    assert caught.value.path == path


@pytest.mark.parametrize(
    "dot_git",
    ["", "garbage\n", "gitdir:\n", "gitdir: ../moved-away\n", "\xff\n"],
)
def test_odd_dot_git_files_fall_back(tmp_path: Path, dot_git: str) -> None:
    top = tmp_path / "odd"
    _write(top / ".git", dot_git)
    (top / "src").mkdir()
    project = find_project(top / "src")
    assert (project.worktree, project.branch, project.app) == (str(top), None, "odd")
    assert (project.app_source, project.linked) == ("git", False)


@pytest.mark.parametrize(
    ("head", "branch", "commit"),
    [
        ("ref: refs/heads/feature/a\n", "feature/a", None),
        ("ref: refs/remotes/origin/x\n", "refs/remotes/origin/x", None),
        ("ref:\n", None, None),
        ("0123456789abcdef0123456789abcdef01234567\n", None,
         "0123456789abcdef0123456789abcdef01234567"),
        ("not a head\n", None, None),
        ("", None, None),
    ],
)  # fmt: skip
def test_head_files(tmp_path: Path, head: str, branch: str | None, commit: str | None) -> None:
    top = tmp_path / "repo"
    _write(top / ".git" / "HEAD", head)
    project = find_project(top)
    assert (project.branch, project.commit) == (branch, commit)


def test_a_linked_worktree_read_from_files_alone(tmp_path: Path) -> None:
    """The layout ``git worktree add`` makes, written by hand: relative paths work too."""
    main = tmp_path / "main-checkout"
    gitdir = main / ".git" / "worktrees" / "wt"
    _write(gitdir / "HEAD", "ref: refs/heads/topic\n")
    _write(gitdir / "commondir", "../..\n")
    _write(tmp_path / "wt" / ".git", "gitdir: ../main-checkout/.git/worktrees/wt\n")
    project = find_project(tmp_path / "wt")
    assert (project.app, project.branch, project.linked) == ("main-checkout", "topic", True)
    assert project.worktree == str(tmp_path / "wt")


def test_an_unreadable_package_json_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    os.mkfifo(tmp_path / "p" / "package.json")  # must not hang
    with pytest.raises(ConfigError, match="not a regular file") as caught:
        find_project(tmp_path / "p")
    assert not isinstance(caught.value, ManifestError)


def test_bad_starting_folders(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="existing folder"):
        find_project(tmp_path / "missing")
    _write(tmp_path / "file", "x")
    with pytest.raises(InvalidArgumentError, match="existing folder"):
        find_project(tmp_path / "file")


def test_a_deleted_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    with pytest.raises(InvalidArgumentError, match="no longer exists"):
        find_project()
