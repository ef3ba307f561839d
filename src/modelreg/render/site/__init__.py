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

import datetime as dt
import re
from importlib import resources
from pathlib import Path
from urllib.parse import quote, urlsplit

from modelreg.errors import ModelregError, UsageError
from modelreg.registry import Registry
from modelreg.render.site import catalog, comparepage, pages, versionpage
from modelreg.render.site.data import SiteData, gather
from modelreg.storage import replace_directory

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


def write_site(target: Path, files: dict[str, bytes]) -> None:
    """Replace ``target`` with a directory holding exactly ``files``, all at once
    (:func:`modelreg.storage.replace_directory`: a reader sees the old site or the new one)."""
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise UsageError(f"--site {target}: exists and is not a directory")
    replace_directory(target, files)
