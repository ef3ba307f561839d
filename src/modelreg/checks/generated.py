"""Generated files are current (MR8xx): the pages ``modelreg render`` writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from modelreg import render
from modelreg.checks import RegistryContext, check
from modelreg.errors import ModelregError
from modelreg.findings import Finding
from modelreg.rules import rule


def _first_difference(old: str, new: str) -> int:
    old_lines, new_lines = old.splitlines(), new.splitlines()
    for number, (a, b) in enumerate(zip(old_lines, new_lines, strict=False), start=1):
        if a != b:
            return number
    return min(len(old_lines), len(new_lines)) + 1


def _any_generated(root: Path) -> bool:
    """Whether any file where ``render`` writes starts with the generated header."""
    candidates = [root / render.PAGE, root / render.DEVELOPMENT]
    cards = root / render.CARDS_DIR
    if cards.is_dir():
        candidates.extend(sorted(cards.glob("*.md")))
    mark = render.GENERATED_MARK.encode()
    for path in candidates:
        try:
            with path.open("rb") as fh:
                if fh.read(len(mark)) == mark:
                    return True
        except OSError:
            continue
    return False


@check("registry", rules=("MR801",), needs_valid=False)
def generated_current(ctx: RegistryContext) -> Iterator[Finding]:
    """Every file that says ``modelreg render`` generated it equals what it renders now.

    Only files that carry the generated header are compared, so a registry without a page
    (or with a hand-written one) is not told to have one; ``modelreg render --check`` in CI
    also catches a missing page.
    """
    root = ctx.registry.root
    if not _any_generated(root):
        return  # nothing claims to be generated: rendering (a second load of every file) is moot
    try:
        rendered = render.render(root)
    except ModelregError:
        return  # the YAML and schema rules already report why the facts cannot be read
    for state in render.states(root, rendered):
        if state.current or state.old is None or not state.old.startswith(render.GENERATED_MARK):
            continue
        if state.new is None:
            yield rule("MR801").finding(
                state.rel,
                "generated card of a model that no longer exists; run `modelreg render` "
                "(it removes the file)",
            )
            continue
        line = _first_difference(state.old, state.new)
        yield rule("MR801").finding(
            state.rel,
            f"out of date (first difference at line {line}); run `modelreg render` and "
            "commit the result",
            line,
        )
