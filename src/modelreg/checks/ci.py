"""What CI should check: versions changed since a base revision, and balanced shards.

``modelreg ci-matrix --base REF`` lists the versions a pull request touches (a file in the
version directory, the model's shared evaluation data) and the versions it promotes (a
lifecycle status that became ``production``, or a version newly listed in an environment
overlay), so CI validates, pulls LFS objects for and gates only those.
``modelreg ci-matrix --shards N`` splits the whole registry into N shards balanced by artifact
size (largest first onto the lightest shard), and ``modelreg validate --shard i/N`` checks one
of them, so a registry of hundreds of large models validates across runners.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelreg.errors import ModelregError, UsageError
from modelreg.findings import Finding, Severity
from modelreg.git import lfs
from modelreg.gitops.envs import VERSION_REF_RE
from modelreg.gitops.fence import load_yaml
from modelreg.registry import MODEL_FILE, SHARED_DATA_DIR, Registry, VersionEntry, semver_key

#: Environment overlays list versions as ``../<model>/v<version>`` (helper GitOps' layout).
_OVERLAY_ENV = re.compile(r"^overlays/([^/]+)/kustomization\.ya?ml$")
PROMOTED_STATUS = "production"
#: GitHub caps a job summary at 1 MiB; a table this long is read in the log anyway.
MAX_SUMMARY_ROWS = 200

if TYPE_CHECKING:
    from modelreg.checks.runner import Selection


@dataclass
class Target:
    """One version CI must check, and why."""

    model: str
    version: str
    reasons: set[str] = field(default_factory=set)
    gate: bool = False

    @property
    def path(self) -> str:
        """The version directory, relative to the registry root."""
        return f"models/{self.model}/{self.version}"

    def lfs_include(self) -> str:
        """``git lfs pull --include`` patterns: this version and the model's shared data."""
        return f"{self.path}/**,models/{self.model}/{SHARED_DATA_DIR}/**"

    def as_json(self) -> dict[str, Any]:
        """One entry of the matrix's ``include`` list."""
        return {
            "name": f"{self.model}@{self.version}",
            "model": self.model,
            "version": self.version,
            "path": self.path,
            "lfs": self.lfs_include(),
            "gate": self.gate,
            "reasons": ",".join(sorted(self.reasons)),
        }


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, check=False)
    except FileNotFoundError:
        raise UsageError("git is not installed; ci-matrix --base needs git") from None


def changed_files(root: Path, base: str, head: str = "HEAD") -> list[str]:
    """Files that differ between the merge base of ``base`` and ``head``, and ``head``."""
    proc = _git(root, "diff", "--name-only", "-z", "--no-renames", f"{base}...{head}", "--")
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(
            f"cannot diff {base}...{head} in {root}: {message[-1] if message else 'git failed'} "
            "(in CI, check out with fetch-depth: 0 so the base commit is present)"
        )
    return sorted(p for p in proc.stdout.decode("utf-8", "replace").split("\0") if p)


def show(root: Path, rev: str, rel: str) -> str | None:
    """The text of ``rel`` at ``rev``, or None when it does not exist there."""
    proc = _git(root, "show", f"{rev}:{rel}")
    return proc.stdout.decode("utf-8", "replace") if proc.returncode == 0 else None


def _load(text: str | None) -> Any:
    if text is None:
        return None
    # modelreg's bounded loader: a file of the pull request must not expand YAML aliases
    # without a bound here either (an alias bomb in model.yaml or an environment overlay).
    data, problems = load_yaml(text.encode("utf-8", "surrogateescape"), "ci-matrix")
    return None if problems else data  # the schema hook reports it; it promotes nothing here


def _production(model_yaml: Any) -> set[str]:
    lifecycle = model_yaml.get("lifecycle") if isinstance(model_yaml, dict) else None
    if not isinstance(lifecycle, dict):
        return set()
    return {
        str(v)
        for v, entry in lifecycle.items()
        if isinstance(entry, dict) and entry.get("status") == PROMOTED_STATUS
    }


def _env_versions(kustomization: Any) -> set[tuple[str, str]]:
    resources = kustomization.get("resources") if isinstance(kustomization, dict) else None
    out: set[tuple[str, str]] = set()
    for item in resources if isinstance(resources, list) else []:
        # Only the canonical form deploys a version; anything else is MR624 in the checks.
        match = VERSION_REF_RE.match(str(item))
        if match:
            out.add((match["model"], match["version"]))
    return out


#: Top-level directories whose files modelreg reads (a symlink there is refused, MR006).
REGISTRY_DIRS = ("models", "overlays", "clusters")


def _symlink_in_registry(registry: Registry, rel: str) -> tuple[str, str] | None:
    """The first symlink on a changed path under a registry directory, with its link text."""
    if rel.split("/", 1)[0] not in REGISTRY_DIRS:
        return None
    try:
        return registry.tree.symlink_on(rel)
    except (OSError, ModelregError):
        return None  # deleted at head or not walkable: nothing there to follow


def changed_targets(registry: Registry, base: str, head: str = "HEAD") -> list[Target]:
    """Versions to validate for the change ``base...head``; promotions carry ``gate``."""
    root = registry.root
    merge_base = _git(root, "merge-base", base, head)
    old_rev = merge_base.stdout.decode().strip() if merge_base.returncode == 0 else base
    targets: dict[tuple[str, str], Target] = {}

    def add(model: str, version: str, reason: str, gate: bool = False) -> None:
        entry = registry.models.get(model)
        if entry is None or version not in entry.versions:
            return  # deleted or renamed away: nothing left to check at head
        target = targets.setdefault((model, version), Target(model, version))
        target.reasons.add(reason)
        target.gate = target.gate or gate

    changed = changed_files(root, base, head)
    # A symlink among the changed paths selects nothing (modelreg never follows one), so a
    # matrix without it would skip the validate job: refuse the whole change instead.
    links = sorted(
        {found for rel in changed if (found := _symlink_in_registry(registry, rel)) is not None}
    )
    if links:
        shown = ", ".join(f"{rel} (-> {link})" for rel, link in links)
        raise ModelregError(
            f"the change adds symlinks where modelreg reads registry files: {shown}; "
            "modelreg never follows symlinks (MR006): commit the files themselves"
        )
    for rel in changed:
        parts = rel.split("/")
        if len(parts) >= 3 and parts[0] == "models":
            model = registry.models.get(parts[1])
            if model is None:
                continue
            if parts[2] in model.versions:
                add(model.name, parts[2], "changed")
            elif parts[2] == SHARED_DATA_DIR:
                for version in model.versions:
                    add(model.name, version, "data")
            elif parts[2] == MODEL_FILE:
                before = _production(_load(show(root, old_rev, rel)))
                after = _production(_load(show(root, head, rel)))
                for version in sorted(after - before):
                    add(model.name, version, "promoted", gate=True)
            continue
        env = _OVERLAY_ENV.match(rel)
        if env:
            before_env = _env_versions(_load(show(root, old_rev, rel)))
            after_env = _env_versions(_load(show(root, head, rel)))
            for model_name, version in sorted(after_env - before_env):
                add(model_name, version, f"deployed:{env.group(1)}", gate=True)
    return [targets[k] for k in sorted(targets, key=lambda k: (k[0], semver_key(k[1])))]


# -- shards --------------------------------------------------------------------------------------


def artifact_size(registry: Registry, version: VersionEntry) -> int:
    """Bytes CI will pull for a version: metadata's ``artifact.size``, else what is on disk."""
    meta = registry.metadata(version) if version.has_metadata else None
    artifact = meta.get("artifact") if isinstance(meta, dict) else None
    if isinstance(artifact, dict):
        size = artifact.get("size")
        if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
            return size
    path = version.dir / "model.onnx"
    try:  # through the registry's tree: a symlinked artifact is not followed (MR006)
        info = registry.tree.lstat(path)
        if info is None or not registry.tree.is_file(path):
            return 0
        head = lfs.read_head(path, tree=registry.tree)
    except ModelregError:
        return 0  # refused: validate reports it; it weighs nothing in a shard
    if lfs.looks_like_pointer(head):
        try:
            return lfs.parse_pointer(head).size
        except lfs.PointerError:
            return len(head)
    return info.st_size


def shards(registry: Registry, count: int) -> list[list[Target]]:
    """The whole registry in ``count`` shards balanced by artifact size (greedy LPT).

    Deterministic: the same registry always gives the same shards, so ``ci-matrix`` and
    ``validate --shard`` agree without passing lists between jobs.
    """
    if count < 1:
        raise UsageError(f"--shards must be at least 1, not {count}")
    sized = [
        (artifact_size(registry, v), m.name, v.name)
        for m in registry.models.values()
        for v in m.versions.values()
    ]
    sized.sort(key=lambda s: (-s[0], s[1], semver_key(s[2])))
    buckets: list[list[Target]] = [[] for _ in range(count)]
    loads = [0] * count
    for size, model, version in sized:
        i = min(range(count), key=lambda k: (loads[k], k))
        buckets[i].append(Target(model, version, {"shard"}))
        loads[i] += size
    for bucket in buckets:
        bucket.sort(key=lambda t: (t.model, semver_key(t.version)))
    return buckets


def shard_bytes(registry: Registry, bucket: Iterable[Target]) -> int:
    """Total artifact bytes of a shard."""
    return sum(
        artifact_size(registry, registry.models[t.model].versions[t.version]) for t in bucket
    )


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` as ``(i, N)`` with ``1 <= i <= N``."""
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not match:
        raise UsageError(f"--shard {text!r}: expected i/N, e.g. 2/4")
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= index <= count:
        raise UsageError(f"--shard {text}: i must be between 1 and N")
    return index, count


def shard_matrix(registry: Registry, count: int) -> list[dict[str, Any]]:
    """Matrix entries for every non-empty shard (an empty one would pull every LFS object)."""
    out = []
    for i, bucket in enumerate(shards(registry, count), start=1):
        if not bucket:
            continue
        out.append(
            {
                "name": f"shard {i}/{count}",
                "shard": f"{i}/{count}",
                "versions": " ".join(f"{t.model}@{t.version}" for t in bucket),
                "lfs": ",".join(
                    dict.fromkeys(p for t in bucket for p in t.lfs_include().split(","))
                ),
                "bytes": shard_bytes(registry, bucket),
            }
        )
    return out


def shard_selection(registry: Registry, index: int, count: int) -> Selection:
    """The versions of shard ``index`` of ``count``; shard 1 also runs every model's rules.

    Registry-wide checks (strays, overlays, generated files) need the whole registry and run
    in the unsharded fast job instead.
    """
    from modelreg.checks.runner import Selection

    selection = Selection()
    selection.versions = {(t.model, t.version) for t in shards(registry, count)[index - 1]}
    if index == 1:
        selection.models = set(registry.models)
    return selection


def markdown_summary(findings: Sequence[Finding], checked: str) -> str:
    """A job summary: the verdict line and a table of findings (GitHub-flavoured Markdown)."""
    from modelreg import escape
    from modelreg.reporters import summary

    verdict = summary(findings, checked).removeprefix("modelreg: ")
    icon = "❌" if any(f.severity is Severity.ERROR for f in findings) else "✅"
    lines = [f"### {icon} modelreg validate: {escape.inline(verdict)}", ""]
    if findings:
        lines += ["| Location | Rule | Severity | Message |", "|---|---|---|---|"]
        for f in findings[:MAX_SUMMARY_ROWS]:
            # Paths and messages quote the pull request: text, never markup (modelreg.escape).
            cells = (escape.code(f.location), f.rule, f.severity.value, escape.inline(f.message))
            lines.append("| " + " | ".join(escape.cell(c) for c in cells) + " |")
        if len(findings) > MAX_SUMMARY_ROWS:
            lines.append(f"\n{len(findings) - MAX_SUMMARY_ROWS} more; see the job log.")
    return "\n".join(lines) + "\n\n"


def append_summary(path: Path, findings: Sequence[Finding], checked: str) -> None:
    """Append :func:`markdown_summary` to ``path`` ($GITHUB_STEP_SUMMARY is append-only)."""
    try:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(markdown_summary(findings, checked))
    except OSError as exc:
        raise UsageError(f"{path}: cannot append the summary: {exc.strerror}") from None
