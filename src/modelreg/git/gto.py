"""GTO's tags, read the way GTO 1.10.1 reads them: which version is in which stage.

GTO (iterative/gto) keeps a model registry in git tags only. Its grammar (``gto.constants
.tag_re``), with ``#N`` an optional counter GTO appends unless ``--simple``:

=============================  ==========================  ==============================
tag                            action                      made by
=============================  ==========================  ==============================
``<name>@v<semver>[#N]``       register a version          ``gto register``
``<name>@v<semver>![#N]``      deregister it               ``gto deprecate NAME vX``
``<name>#<stage>[#N]``         assign a stage              ``gto assign``
``<name>#<stage>![#N]``        unassign it                 ``gto deprecate NAME vX STAGE``
``<name>@deprecated[#N]``      deprecate the artifact      ``gto deprecate NAME``
``<name>@created[#N]``         (parsed; GTO fails on it)   nobody
=============================  ==========================  ==============================

An assignment names no version: it points at a commit, and the version is the one
registered at that commit. GTO ignores lightweight tags, orders events by the tagger's time
(seconds) and, as ``gto show`` does by default, puts in each stage the one version whose
active assignment is the most recent ("latest assignment wins"; unassigning it brings back
the previous holder). :func:`compute` replays that algorithm event by event, in GTO's order
(deprecations, then registrations, then assignments; each by time, ties by tag name), so
modelreg and ``gto show`` agree also on ties. ``artifacts.yaml`` annotations are not read:
modelreg registries describe models in ``models/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from modelreg.git.repo import GitError, Repo

# -- the grammar (gto/constants.py, 1.10.1) --------------------------------------------

_NAME = r"[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?"
_SEMVER = (
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
#: ``dir:name`` artifacts are spelled ``dir=name`` in tags.
_ARTIFACT = rf"(?:[a-zA-Z0-9-_./]+=)?{_NAME}"
TAG_RE = re.compile(
    rf"(?P<artifact>{_ARTIFACT})"
    rf"(?:(?:#(?P<stage>{_NAME})|@(?P<version>v{_SEMVER}))(?P<cancel>!?)"
    r"|@(?:(?P<deprecated>deprecated)|(?P<created>created)))"
    r"(?:#(?P<counter>[0-9]+))?"
)
#: A stage name GTO accepts (``gto.constants.name``).
STAGE_RE = re.compile(_NAME)

REGISTER = "register"
DEREGISTER = "deregister"
ASSIGN = "assign"
UNASSIGN = "unassign"
DEPRECATE = "deprecate"
CREATE = "create"


@dataclass(frozen=True)
class GtoTag:
    """One tag name in GTO's grammar."""

    name: str
    artifact: str
    action: str
    #: As written in the tag, with its ``v`` (``v1.1.0``); None for stage and artifact tags.
    version: str | None = None
    stage: str | None = None
    counter: int | None = None


def parse(tag: str) -> GtoTag | None:
    """``tag`` read with GTO's grammar, or None when GTO would ignore it."""
    m = TAG_RE.fullmatch(tag)
    if m is None:
        return None
    artifact = m["artifact"].replace("=", ":")
    counter = int(m["counter"]) if m["counter"] else None
    cancel = m["cancel"] == "!"
    if m["version"]:
        action = DEREGISTER if cancel else REGISTER
        return GtoTag(tag, artifact, action, version=m["version"], counter=counter)
    if m["stage"]:
        action = UNASSIGN if cancel else ASSIGN
        return GtoTag(tag, artifact, action, stage=m["stage"], counter=counter)
    action = DEPRECATE if m["deprecated"] else CREATE
    return GtoTag(tag, artifact, action, counter=counter)


def plain_version(gto_version: str) -> str:
    """``v1.1.0`` → ``1.1.0``; a commit id (a version GTO knows only by its commit) stays."""
    return gto_version[1:] if gto_version.startswith("v") else gto_version


def describe_version(gto_version: str) -> str:
    """How a message names a GTO version: ``v1.1.0`` or ``commit 0123abcd4567``."""
    return gto_version if gto_version.startswith("v") else f"commit {gto_version[:12]}"


# -- the events -------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One annotated GTO tag: what it does, when (tagger time) and to which commit."""

    tag: GtoTag
    time: int
    commit: str
    #: Committer time of ``commit``: GTO adds it to every version as an event of its own.
    commit_time: int


def read_events(repo: Repo) -> list[Event]:
    """Every annotated tag in GTO's grammar, with times and commits: one ``for-each-ref``."""
    fmt = "%00".join(
        ("%(refname)", "%(objecttype)", "%(*objecttype)", "%(*objectname)",
         "%(taggerdate:unix)", "%(*committerdate:unix)")
    )  # fmt: skip
    try:
        out = repo.run("for-each-ref", f"--format={fmt}", "refs/tags")
    except GitError:
        return []
    events: list[Event] = []
    for line in out.splitlines():
        fields = line.split("\0")
        if len(fields) != 6:
            continue
        ref, kind, target_kind, commit, time, commit_time = fields
        parsed = parse(ref.removeprefix("refs/tags/"))
        # GTO skips lightweight tags, and an annotated tag of anything but a commit has no
        # version to name.
        if parsed is None or kind != "tag" or target_kind != "commit":
            continue
        try:
            events.append(Event(parsed, int(time), commit, int(commit_time or 0)))
        except ValueError:
            continue
    return events


def uses_stages(names: Iterable[str]) -> bool:
    """Whether any tag is a GTO assignment, unassignment, deregistration or deprecation."""
    return any((p := parse(name)) is not None and p.action != REGISTER for name in names)


# -- GTO's state (gto/base.py), replayed ------------------------------------------------


@dataclass
class _Entry:
    """An event as GTO keeps it in its lists."""

    kind: str  # register, deregister, assign, unassign, deprecate, commit
    time: int
    tag: str | None

    @property
    def addition(self) -> bool:
        return self.kind in (REGISTER, ASSIGN, "commit")


def _desc(entries: Iterable[_Entry]) -> list[_Entry]:
    """GTO's ``sorted(events, key=created_at)[::-1]``: newest first, ties reversed."""
    return sorted(entries, key=lambda e: e.time)[::-1]


@dataclass
class _VStage:
    stage: str
    events: list[_Entry] = field(default_factory=list)  # assignments + unassignments

    def ordered(self) -> list[_Entry]:
        assign = sorted((e for e in self.events if e.kind == ASSIGN), key=lambda e: e.time)
        unassign = sorted((e for e in self.events if e.kind == UNASSIGN), key=lambda e: e.time)
        return _desc(assign + unassign)

    @property
    def active(self) -> bool:
        found = self.ordered()
        return bool(found) and found[0].kind == ASSIGN

    @property
    def activated_at(self) -> int:
        return self.ordered()[0].time

    @property
    def latest(self) -> _Entry:
        """GTO's ``created_at`` and ``ref`` of a stage: its newest assignment."""
        return next(e for e in self.ordered() if e.addition)


@dataclass
class _Version:
    name: str
    commit: str
    registrations: list[_Entry] = field(default_factory=list)
    deregistrations: list[_Entry] = field(default_factory=list)
    enrichments: list[_Entry] = field(default_factory=list)
    stages: dict[str, _VStage] = field(default_factory=dict)

    def _direct_lists(self) -> list[_Entry]:
        # GTO keeps each list sorted by time as events arrive (a stable sort).
        return sorted(self.registrations, key=lambda e: e.time) + sorted(
            self.deregistrations, key=lambda e: e.time
        )

    def direct(self) -> list[_Entry]:
        return _desc(self._direct_lists())

    def all_events(self) -> list[_Entry]:
        stage_events = [e for s in self.stages.values() for e in s.ordered()]
        return _desc(self._direct_lists() + self.enrichments + stage_events)

    @property
    def discovered(self) -> bool:
        return not self.registrations and not self.deregistrations

    @property
    def registered(self) -> bool:
        return bool(self.registrations)

    @property
    def active(self) -> bool:
        direct = self.direct()
        if direct:
            return direct[0].kind == REGISTER
        return bool(self.enrichments) or any(s.events for s in self.stages.values())

    @property
    def created_at(self) -> int:
        additions = [e for e in self.direct() if e.addition]
        if additions:
            return additions[0].time
        indirect = _desc(self.enrichments + [e for s in self.stages.values() for e in s.ordered()])
        return indirect[0].time

    def active_stages(self) -> list[_VStage]:
        return sorted((s for s in self.stages.values() if s.active), key=lambda s: s.activated_at)


@dataclass
class Artifact:
    """What GTO knows about one artifact (a modelreg model, by name)."""

    name: str
    versions: list[_Version] = field(default_factory=list)
    deprecations: list[_Entry] = field(default_factory=list)
    #: Stage → ``(time, tag)`` of every assignment or unassignment tag naming it.
    stages_used: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    #: Why GTO cannot read this artifact (``gto show`` fails), or None.
    problem: str | None = None

    def _find(self, name: str | None, commit: str | None) -> list[_Version]:
        return [
            v
            for v in self.versions
            if (name is None or v.name == name)
            and (commit is None or v.commit == commit)
            and not v.discovered
        ]

    def _find_or_create(self, name: str | None, commit: str) -> _Version:
        found = self._find(name, commit)
        if len(found) > 1:
            names = ", ".join(f"'{v.name}'" for v in found)
            raise _ManyVersions(
                f"commit {commit[:12]}, which holds versions {names} of {self.name}, so GTO "
                "cannot tell which one it assigns (GTO allows one version per commit)"
            )
        if found:
            return found[0]
        version = _Version(name or commit, commit)
        self.versions.append(version)
        return version

    @property
    def active(self) -> bool:
        """False once the newest event is a deprecation (``gto show`` then hides it)."""
        events = _desc(
            sorted(self.deprecations, key=lambda e: e.time)
            + [e for v in self.versions for e in v.all_events()]
        )
        return bool(events) and events[0].kind != DEPRECATE

    def latest_deprecation(self) -> str | None:
        """The newest ``@deprecated`` tag, when the artifact is deprecated."""
        if self.active or not self.deprecations:
            return None
        return max(self.deprecations, key=lambda e: e.time).tag

    def deregistered(self) -> dict[str, str]:
        """Registered-then-deregistered version (``v1.0.0``) → its newest deregistration tag."""
        return {
            v.name: str(max(v.deregistrations, key=lambda e: e.time).tag)
            for v in self.versions
            if v.deregistrations and not v.active
        }

    def stages(self) -> dict[str, tuple[str, str]]:
        """Stage → ``(version, tag)`` as ``gto show`` prints it (``--sort timestamp
        --vs 1``): the version whose active assignment is the newest, and that tag."""
        versions = [
            v
            for v in self.versions
            if v.active and ((v.registered and not v.discovered) or not v.registered)
        ]
        versions = sorted(versions, key=lambda v: v.created_at)[::-1]
        assignments = [(v, s) for v in versions for s in v.active_stages()]
        assignments = sorted(assignments, key=lambda a: a[1].latest.time)[::-1]
        found: dict[str, tuple[str, str]] = {}
        for version, vstage in assignments:
            found.setdefault(vstage.stage, (version.name, str(vstage.latest.tag)))
        return found

    def last_stage_tag(self, stage: str) -> str:
        """The newest assignment or unassignment tag of ``stage`` (GTO's order)."""
        return sorted(self.stages_used[stage])[-1][1]

    def stages_of(self, version: str) -> list[str]:
        """The stages ``gto show`` puts ``version`` (``v1.1.0``) in, sorted (none once the
        artifact is deprecated: ``gto show`` hides it)."""
        if not self.active:
            return []
        return sorted(stage for stage, (v, _tag) in self.stages().items() if v == version)

    def status_of(self, version: str) -> str | None:
        """``registered``, ``deregistered`` or ``deprecated`` (the whole artifact) for GTO;
        None when GTO has no registration of ``version`` (``v1.1.0``)."""
        found = [v for v in self.versions if v.name == version and not v.discovered]
        if not found:
            return None
        if not self.active:
            return "deprecated"
        return "registered" if any(v.active for v in found) else "deregistered"


class _ManyVersions(Exception):
    """GTO's ManyVersions: an assignment's commit holds several registered versions."""


@dataclass
class State:
    """GTO's view of a repository: artifact name → :class:`Artifact`."""

    artifacts: dict[str, Artifact] = field(default_factory=dict)
    #: ``@created`` tags: GTO 1.10.1 stops with "Unexpected error: 'action'" on any of them.
    unreadable: list[str] = field(default_factory=list)


def compute(events: Sequence[Event]) -> State:
    """Replay ``events`` as GTO's ``GitRegistry.get_state`` does."""
    state = State()

    def artifact(name: str) -> Artifact:
        return state.artifacts.setdefault(name, Artifact(name))

    def phase(actions: tuple[str, ...]) -> list[Event]:
        # scmrepo lists tags sorted by name; GTO then sorts them by time (stable).
        chosen = sorted((e for e in events if e.tag.action in actions), key=lambda e: e.tag.name)
        return sorted(chosen, key=lambda e: e.time)

    state.unreadable = sorted(e.tag.name for e in events if e.tag.action == CREATE)
    for event in phase((DEPRECATE,)):
        artifact(event.tag.artifact).deprecations.append(
            _Entry(DEPRECATE, event.time, event.tag.name)
        )
    for event in phase((REGISTER, DEREGISTER)):
        found = artifact(event.tag.artifact)
        version = found._find_or_create(event.tag.version, event.commit)
        entry = _Entry(event.tag.action, event.time, event.tag.name)
        if event.tag.action == REGISTER:
            version.registrations.append(entry)
        else:
            version.deregistrations.append(entry)
    commit_times: dict[str, int] = {e.commit: e.commit_time for e in events}
    for event in phase((ASSIGN, UNASSIGN)):
        found = artifact(event.tag.artifact)
        stage = str(event.tag.stage)
        found.stages_used.setdefault(stage, []).append((event.time, event.tag.name))
        if found.problem is not None:
            continue
        try:
            named = found._find_or_create(None, event.commit).name
            # GTO files the event under (version, commit); for a version it knows only by
            # its commit, that lookup misses (no registration) and makes one more version.
            version = found._find_or_create(named, event.commit)
        except _ManyVersions as exc:
            found.problem = f"tag {event.tag.name} points at {exc}"
            continue
        vstage = version.stages.setdefault(stage, _VStage(stage))
        vstage.events.append(_Entry(event.tag.action, event.time, event.tag.name))
    for found in state.artifacts.values():
        for version in found.versions:
            # GTO's enrichment step: one event per version at its commit's time.
            version.enrichments.append(_Entry("commit", commit_times.get(version.commit, 0), None))
    return state


def read(repo: Repo) -> State:
    """GTO's state of ``repo``."""
    return compute(read_events(repo))
