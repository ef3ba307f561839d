"""Pages made of keyed blocks, and the three-way merge that keeps them conflict-free.

``MODEL_REGISTRY.md`` is one file about many models, so two pull requests that each add a
version to a different model both change it. Every line of the page depends on one model
only, and the page is a sequence of blocks, each introduced by an invisible marker::

    <!-- modelreg:block 10/bert-classifier -->

Keys sort in page order (``10`` is a section's own text, ``10/<model>`` that model's part of
the section). A merge can therefore be decided block by block: a block changed on one side
only takes that side, a block added on either side is added, and the result is the blocks
in key order — the page :func:`modelreg.render.render` makes from the merged ``models/``.
Only a block changed differently on both sides (two branches changing the same model, which
conflicts in ``model.yaml`` too) is a conflict; it gets the usual conflict markers.

Git runs this as a merge driver (``modelreg render --merge-driver %O %A %B``, declared in
``.gitattributes``); see docs/DEVELOPMENT.md for the one-time ``git config``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MARKER = "<!-- modelreg:block {key} -->"
_MARKER_RE = re.compile(r"^<!-- modelreg:block (\S+) -->$")


@dataclass(frozen=True)
class Block:
    """A keyed run of lines; the head block (key ``""``) has no marker."""

    key: str
    lines: tuple[str, ...]


def join(blocks: Sequence[Block]) -> str:
    """The page text; keys must be unique and increasing (the merge relies on it)."""
    keys = [b.key for b in blocks]
    if keys != sorted(keys) or len(set(keys)) != len(keys) or (keys and keys[0] != ""):
        raise ValueError(f"blocks out of order or repeated: {keys}")
    out: list[str] = []
    for block in blocks:
        if block.key:
            out.append(MARKER.format(key=block.key))
        out.extend(block.lines)
    return "\n".join(out) + "\n"


def split(text: str) -> dict[str, tuple[str, ...]] | None:
    """Blocks by key; None when the text has no markers, or its keys repeat or are unsorted."""
    blocks: dict[str, list[str]] = {"": []}
    order = [""]
    current = ""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        match = _MARKER_RE.match(line)
        if match:
            current = match.group(1)
            if current in blocks:
                return None
            blocks[current] = []
            order.append(current)
        else:
            blocks[current].append(line)
    if len(order) == 1 or order != sorted(order):
        return None
    return {key: tuple(lines) for key, lines in blocks.items()}


@dataclass(frozen=True)
class MergeResult:
    """The merged text and the keys both sides changed differently."""

    text: str
    conflicts: tuple[str, ...]


def merge(base: str, ours: str, theirs: str) -> MergeResult | None:
    """Three-way merge by block; None when one of the texts is not a keyed page."""
    pages = [split(t) for t in (base, ours, theirs)]
    b, o, t = pages
    if b is None or o is None or t is None:
        return None
    out: list[str] = []
    conflicts: list[str] = []
    for key in sorted(set(b) | set(o) | set(t)):
        old, mine, other = b.get(key), o.get(key), t.get(key)
        if other in (mine, old):
            chosen = mine
        elif mine == old:
            chosen = other
        else:
            conflicts.append(key)
            if key:
                out.append(MARKER.format(key=key))
            out.append("<<<<<<< ours")
            out.extend(mine or ())
            out.append("=======")
            out.extend(other or ())
            out.append(">>>>>>> theirs")
            continue
        if chosen is None:
            continue  # deleted on one side, unchanged on the other
        if key:
            out.append(MARKER.format(key=key))
        out.extend(chosen)
    return MergeResult("\n".join(out) + "\n", tuple(conflicts))
