"""The static catalog site (``modelreg render --site DIR``): HTML, one CSS, one small script.

:func:`build_site` is a pure function of the repository at one commit (its registry, overlays,
git history and tags): the same commit gives the same bytes. :func:`write_site` puts the whole
site in place at once: it is assembled in a staging directory beside ``DIR`` and renamed in
(see :mod:`modelreg.storage`), so a reader or a Pages upload sees the old site or the new one,
never a mix. Callers validate the tree first (``validate --fast``); this package renders only.

Pages (docs/site.md): ``index.html``; ``models/<model>/index.html``;
``models/<model>/<version>/index.html``; ``models/<model>/compare/<a>-vs-<b>.html``;
``site.css``, ``site.js``, ``catalog.json``.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import os
import re
import sys
from importlib import resources
from pathlib import Path
from urllib.parse import quote, urlsplit

from modelreg.errors import ModelregError, UsageError
from modelreg.registry import Registry
from modelreg.render.site import catalog, comparepage, pages, versionpage
from modelreg.render.site.data import SiteData, gather
from modelreg.storage import discard, staging_dir

ASSETS = ("favicon.svg", "site.css", "site.js")
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
PLACEHOLDERS = ("model", "version", "path", "commit")
#: Directories of a registry the site may never be written into.
FORBIDDEN = ("models", "overlays", ".git")


def check_template(template: str) -> None:
    """Refuse a URL template with an unknown placeholder or a scheme other than http(s)."""
    known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    for name in _PLACEHOLDER_RE.findall(template):
        if name not in PLACEHOLDERS:
            raise UsageError(f"--artifact-url: unknown placeholder {{{name}}} (use {known})")
    scheme = urlsplit(template.replace("{", "").replace("}", "")).scheme
    if scheme not in ("", "http", "https"):
        raise UsageError(
            f"--artifact-url: {scheme}: URLs are not allowed (http, https or relative)"
        )


def artifact_url(
    data: SiteData, template: str | None, model: str, version: str, path: str
) -> str | None:
    """The download address of one artifact; None when there is none to give."""
    if template is None:
        if data.github is None or data.commit.date == "":
            return None
        owner, repo = data.github
        template = f"https://github.com/{owner}/{repo}/raw/{{commit}}/{{path}}"
    values = {
        "model": quote(model, safe=""),
        "version": quote(version, safe=""),
        "path": quote(path, safe="/"),
        "commit": quote(data.commit.sha, safe=""),
    }
    return _PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], template)


def _asset(name: str) -> bytes:
    return resources.files("modelreg.render.site").joinpath("assets", name).read_bytes()


def _safe_segment(value: str, what: str) -> str:
    if not value or value in (".", "..") or "/" in value or "\\" in value or "\0" in value:
        raise ModelregError(f"{what} {value!r} cannot be a directory name of the site")
    return value


def build_site(
    root: Path,
    *,
    artifact_template: str | None = None,
    today: dt.date | None = None,
    registry: Registry | None = None,
) -> dict[str, bytes]:
    """Every file of the site: site-relative path → bytes (``registry``: already loaded)."""
    if artifact_template is not None:
        check_template(artifact_template)
    data = gather(root, today, registry)
    files: dict[str, str] = {"index.html": pages.index(data)}
    for m in data.models:
        name = _safe_segment(m.name, "model name")
        commits = {v.version: data.tag_commits.get(v.tag) for v in m.versions}
        files[f"models/{name}/index.html"] = pages.model_page(data, m, commits)
        for v in m.versions:
            version = _safe_segment(v.version, "version")
            url = artifact_url(data, artifact_template, m.name, v.version, v.artifact)
            files[f"models/{name}/{version}/index.html"] = versionpage.version_page(
                data,
                m,
                v,
                download=url,
                commit=commits[v.version],
                deploy=data.deploy.get((m.name, v.version), {}),
            )
        flat: dict[str, dict[str, str]] = {}  # each version's metadata flattened once
        for a, b in pages.compare_pairs(m):
            files[f"models/{name}/compare/{pages.compare_name(a.version, b.version)}"] = (
                comparepage.compare_page(data, m, a, b, flat)
            )
    files["catalog.json"] = catalog.render(data, artifact_template)
    out = {path: text.encode("utf-8") for path, text in files.items()}
    for asset in ASSETS:
        out[asset] = _asset(asset)
    return dict(sorted(out.items()))


def refuse_target(root: Path, target: Path) -> None:
    """A site never goes into ``models/``, ``overlays/`` or ``.git`` of the registry."""
    # Resolved: a DIR reached through a symlink into models/ is refused as well.
    resolved = target.resolve()
    base = root.resolve()
    for name in FORBIDDEN:
        area = base / name
        if resolved == area or area in resolved.parents:
            raise UsageError(f"--site {target}: refusing to write into the registry's {name}/")
    if resolved == base or resolved in base.parents:
        raise UsageError(
            f"--site {target}: refusing to replace the registry (or a directory holding it)"
        )
    if resolved.is_dir() and any(resolved.iterdir()) and not _is_site(resolved):
        # The whole of DIR is replaced: never a directory that is not an earlier site.
        raise UsageError(
            f"--site {target}: exists and is not a site built by modelreg (no catalog.json); "
            "give a new directory or an earlier site"
        )


def _is_site(directory: Path) -> bool:
    catalog_file = directory / "catalog.json"
    return (
        catalog_file.is_file()
        and not catalog_file.is_symlink()
        and not (directory / ".git").exists()
        and (directory / "index.html").is_file()
    )


def _write_files(directory: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into the new, empty ``directory`` (thousands: one mkdir per directory)."""
    made: set[Path] = {directory}
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for rel, raw in files.items():
        path = directory / rel
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        with os.fdopen(os.open(path, flags, 0o644), "wb") as fh:
            fh.write(raw)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically (Linux ``renameat2``); False where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # no such symbol (old glibc, musl): plain renames
        return False
    at_fdcwd, rename_exchange = -100, 2  # <fcntl.h> AT_FDCWD, <linux/fs.h> RENAME_EXCHANGE
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if done == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (38, 22, 95):  # ENOSYS, EINVAL, EOPNOTSUPP: the file system cannot exchange
        return False
    raise OSError(errno, os.strerror(errno), os.fspath(b))


def write_site(target: Path, files: dict[str, bytes]) -> None:
    """Replace ``target`` with a directory holding exactly ``files``, all at once.

    The new tree is assembled in a staging directory beside ``target``; then the two are
    exchanged in one ``renameat2(RENAME_EXCHANGE)`` (Linux), so a reader sees the old site or
    the new one, never neither; elsewhere the old site is renamed aside and the new one in. The
    old one is removed last. A failure before the exchange leaves the old site untouched and no
    staging directory behind.
    """
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise UsageError(f"--site {target}: exists and is not a directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(target.parent, f".{target.name}.new-")
    old: Path | None = None
    try:
        _write_files(staging, files)
        if not target.exists():
            staging.rename(target)
        elif _exchange(staging, target):
            old = staging  # now holds the previous site
        else:
            old = staging_dir(target.parent, f".{target.name}.old-")
            old.rmdir()
            target.rename(old)
            staging.rename(target)
    except BaseException:
        discard(staging)
        if old is not None and not target.exists():
            old.rename(target)
            old = None
        raise
    if old is not None:
        discard(old)
