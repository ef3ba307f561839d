"""treefs: reads under a registry root never follow a symlink and never leave the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelreg.errors import ModelregError
from modelreg.treefs import Refused, Tree, open_nofollow, symlink_message

SECRET = "secret beside the repository\n"


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    """A root with a real file, a directory, and links of every kind pointing outside it."""
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "canary.txt").write_text(SECRET, encoding="utf-8")
    (outside / "dir" / "metadata.yaml").write_text(SECRET, encoding="utf-8")
    root = tmp_path / "root"
    (root / "models" / "m" / "1.0.0").mkdir(parents=True)
    (root / "models" / "m" / "1.0.0" / "metadata.yaml").write_text("model: m\n", encoding="utf-8")
    (root / "models" / "m" / "1.0.0" / "link.yaml").symlink_to(outside / "canary.txt")
    (root / "models" / "m" / "9.9.9").symlink_to(outside / "dir")
    (root / "models" / "m" / "inside").symlink_to("1.0.0")  # relative, even inside: refused
    os.mkfifo(root / "models" / "m" / "fifo")
    return Tree(root)


def test_reads_a_regular_file(tree: Tree) -> None:
    path = tree.root / "models/m/1.0.0/metadata.yaml"
    assert tree.read_bytes(path) == b"model: m\n"
    assert tree.read_text("models/m/1.0.0/metadata.yaml") == "model: m\n"
    assert tree.read_bytes(path, limit=3) == b"mod"
    with tree.open_binary(path) as fh:
        assert os.fstat(fh.fileno()).st_size == 9
        assert fh.read() == b"model: m\n"
    assert tree.is_file(path) and not tree.is_dir(path)
    assert tree.is_dir("models/m/1.0.0") and tree.is_dir(tree.root)


@pytest.mark.parametrize(
    ("path", "rel", "link_end"),
    [
        ("models/m/1.0.0/link.yaml", "models/m/1.0.0/link.yaml", "canary.txt"),
        ("models/m/9.9.9/metadata.yaml", "models/m/9.9.9", "dir"),
        ("models/m/inside/metadata.yaml", "models/m/inside", "1.0.0"),
    ],
)
def test_a_symlink_anywhere_on_the_path_is_refused(
    tree: Tree, path: str, rel: str, link_end: str
) -> None:
    with pytest.raises(Refused) as info:
        tree.read_bytes(path)
    assert (info.value.rel, info.value.kind) == (rel, "symlink")
    assert info.value.link is not None and info.value.link.endswith(link_end)
    assert SECRET.strip() not in str(info.value)
    assert str(info.value).startswith(f"{rel} is a symlink (to ")
    assert str(info.value).endswith(
        "modelreg never follows symlinks in a registry: commit the file itself"
    )
    assert isinstance(info.value, ModelregError)
    assert tree.symlink_on(path) == (rel, info.value.link)
    assert not tree.is_file(path) and not tree.is_dir(path)
    with pytest.raises(Refused):
        tree.open_binary(tree.root / path)


def test_a_symlinked_directory_is_neither_listed_nor_entered(tree: Tree) -> None:
    with pytest.raises(Refused) as info:
        tree.listdir("models/m/9.9.9")
    assert info.value.rel == "models/m/9.9.9"
    assert not tree.is_dir("models/m/9.9.9")
    with pytest.raises(Refused):
        tree.lstat("models/m/9.9.9/metadata.yaml")
    # The leaf's own stat describes the link.
    st = tree.lstat("models/m/9.9.9")
    assert st is not None


def test_listdir_reports_links_without_following(tree: Tree) -> None:
    entries = {e.name: (e.kind, e.rel) for e in tree.listdir("models/m")}
    assert entries == {
        "1.0.0": ("dir", "models/m/1.0.0"),
        "9.9.9": ("symlink", "models/m/9.9.9"),
        "inside": ("symlink", "models/m/inside"),
        "fifo": ("other", "models/m/fifo"),
    }
    walked = [e.rel for e in tree.walk("models")]
    assert "models/m/1.0.0/link.yaml" in walked
    assert not any(r.startswith("models/m/9.9.9/") for r in walked)
    assert [e.rel for e in tree.symlinks_under("models")] == [
        "models/m/1.0.0/link.yaml",
        "models/m/9.9.9",
        "models/m/inside",
    ]
    assert [e.rel for e in tree.symlinks_under("models/m/9.9.9/x")] == ["models/m/9.9.9"]


def test_paths_that_leave_the_root_are_refused(tree: Tree, tmp_path: Path) -> None:
    for path in (tmp_path / "outside" / "canary.txt", "../outside/canary.txt", "models/../.."):
        with pytest.raises(Refused) as info:
            tree.read_bytes(path)
        assert info.value.kind == "outside"
    # `..` inside the root folds lexically (no link on the folded path).
    assert tree.read_bytes("models/m/x/../1.0.0/metadata.yaml") == b"model: m\n"


def test_not_a_regular_file_is_refused(tree: Tree) -> None:
    with pytest.raises(Refused) as info:
        tree.read_bytes("models/m/fifo")  # would block forever if opened blindly
    assert info.value.kind == "not-file"
    with pytest.raises(Refused) as info:
        tree.read_bytes("models/m")
    assert info.value.kind == "not-file"
    with pytest.raises(Refused) as info:
        tree.listdir("models/m/1.0.0/metadata.yaml")
    assert info.value.kind == "not-dir"
    with pytest.raises(FileNotFoundError):
        tree.read_bytes("models/m/1.0.0/absent.yaml")
    with pytest.raises(NotADirectoryError):
        tree.read_bytes("models/m/1.0.0/metadata.yaml/x")
    assert not tree.is_file("models/m/1.0.0/absent.yaml")
    assert tree.lstat("models/m/1.0.0/absent.yaml") is None
    assert not tree.exists("models/m/absent") and tree.exists("models/m/9.9.9")


def test_open_nofollow_refuses_a_link_leaf(tree: Tree) -> None:
    with pytest.raises(Refused) as info:
        open_nofollow(tree.root / "models/m/1.0.0/link.yaml")
    assert info.value.rel == "link.yaml"
    with open_nofollow(tree.root / "models/m/1.0.0/metadata.yaml") as fh:
        assert fh.read() == b"model: m\n"


def test_link_text_is_printed_escaped() -> None:
    message = symlink_message("models/m/x", "a\nb::error::x")
    assert "\n" not in message
    assert message.startswith("models/m/x is a symlink (to a\\nb::error::x) — ")
