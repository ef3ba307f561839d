"""The rule catalog: stable ids, one line of what each checks and how to fix it.

Rule ids never change meaning once released; retired ids are not reused. The ranges are:

* ``MR0xx`` files and YAML
* ``MR1xx`` JSON Schema
* ``MR2xx`` artifact integrity (bytes, hashes, Git LFS pointers)
* ``MR3xx`` ONNX structure and signature against the metadata
* ``MR4xx`` runtime: onnxruntime session and golden vectors
* ``MR5xx`` registry layout and lifecycle
* ``MR6xx`` GitOps: overlays, environments and deployment policy
* ``MR7xx`` git: release tags, immutability, support windows, Git LFS storage
* ``MR8xx`` generated files (registry page, model cards, hooks) and repository wiring
* ``MR9xx`` a check that could not run

``docs/rules.md`` is generated from this table (``python scripts/gen_docs.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from modelreg.findings import Finding, Severity


@dataclass(frozen=True)
class Rule:
    """A stable rule id with its default severity and the fix to tell the user."""

    id: str
    name: str
    severity: Severity
    summary: str
    fix: str

    def finding(
        self,
        path: str,
        message: str,
        line: int | None = None,
        column: int | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        """A finding of this rule at ``path:line:col``."""
        return Finding(path, line, column, self.id, severity or self.severity, message)


_E = Severity.ERROR
_W = Severity.WARNING

RULES: tuple[Rule, ...] = (
    # -- files and YAML -------------------------------------------------------------------
    Rule(
        "MR001",
        "yaml-syntax",
        _E,
        "The file is not valid YAML (or not one YAML document).",
        "Fix the syntax at the reported line; run the file through a YAML linter.",
    ),
    Rule(
        "MR002",
        "yaml-duplicate-key",
        _E,
        "A mapping has the same key twice; YAML loaders silently keep only one.",
        "Remove or rename one of the two keys.",
    ),
    Rule(
        "MR003",
        "yaml-coercion",
        _E,
        "An unquoted value is read by YAML as another type than the field expects "
        "(`1.10` becomes the number 1.1, `on` becomes true, `2024-01-15` a date).",
        'Quote the value: `version: "1.10"`.',
    ),
    Rule(
        "MR004",
        "file-unreadable",
        _E,
        "The file cannot be read: missing, not UTF-8, too large or too deeply nested.",
        "Save the file as UTF-8 text; keep metadata small and flat.",
    ),
    Rule(
        "MR005",
        "state-file-in-tree",
        _E,
        "A modelreg lock or write journal (`.modelreg.journal`, `.modelreg.lock`, "
        "`models/<model>/.add.lock`) is in the work tree. modelreg keeps that state in the git "
        "directory and ignores these files; in a pull request they are an attempt to make "
        "modelreg act on planted state.",
        "Delete the file from the pull request (`git rm FILE`); modelreg never reads it.",
    ),
    Rule(
        "MR006",
        "symlink",
        _E,
        "A path in the registry is a symbolic link (`models/` itself, a model or version "
        "directory, metadata.yaml, model.yaml, the artifact, a golden vector, evaluation data). "
        "modelreg never follows a symlink in a registry: a link can point anywhere on the "
        "reviewer's machine, so nothing behind it is read, checked or echoed.",
        "Commit the file or directory itself instead of a link to it (`git rm LINK`, copy the "
        "content in, `git add` it).",
    ),
    # -- schema ---------------------------------------------------------------------------
    Rule(
        "MR101",
        "schema-required",
        _E,
        "A required field is missing.",
        "Add the field; `docs/schema-reference.md` lists what each file needs.",
    ),
    Rule(
        "MR102",
        "schema-unknown-key",
        _E,
        "A field is not part of the schema (often a typo).",
        "Remove the field or fix its spelling; see `docs/schema-reference.md`.",
    ),
    Rule(
        "MR103",
        "schema-type",
        _E,
        "A field has the wrong type.",
        "Give the field the type the schema reference lists.",
    ),
    Rule(
        "MR104",
        "schema-value",
        _E,
        "A field's value is out of range, not in its vocabulary or badly formatted "
        "(semver, date, sha256).",
        "Use a value the schema allows; the message names the constraint.",
    ),
    Rule(
        "MR105",
        "schema-other",
        _E,
        "Any other JSON Schema violation.",
        "Follow the message; `docs/schema-reference.md` describes each field.",
    ),
    # -- integrity ------------------------------------------------------------------------
    Rule(
        "MR201",
        "sha256-mismatch",
        _E,
        "The artifact's sha256 differs from the metadata.",
        "The file changed after the metadata was written: restore it, or add a new version "
        "with `modelreg add`.",
    ),
    Rule(
        "MR202",
        "size-mismatch",
        _E,
        "The artifact's size in bytes differs from the metadata.",
        "Restore the file, or add a new version with `modelreg add`.",
    ),
    Rule(
        "MR203",
        "artifact-missing",
        _E,
        "The artifact named by the metadata does not exist.",
        "Commit the file, or fix `artifact.path`.",
    ),
    Rule(
        "MR204",
        "lfs-not-pulled",
        _E,
        "The artifact is a Git LFS pointer, so its bytes cannot be checked deeply.",
        "Run the printed `git lfs pull --include=...` command, or use `--fast`.",
    ),
    Rule(
        "MR205",
        "lfs-pointer-invalid",
        _E,
        "The file looks like a Git LFS pointer but does not follow the pointer spec.",
        "Re-add the file with `git lfs track` and `git add`.",
    ),
    Rule(
        "MR206",
        "artifact-path-unsafe",
        _E,
        "The artifact path is absolute, leaves the version directory or is a link.",
        "Keep the artifact inside its version directory as a regular file.",
    ),
    Rule(
        "MR207",
        "external-data-unsafe",
        _E,
        "A tensor's external data reference is refused before any library may open it: the "
        "location is absolute, contains `..`, passes through a symbolic link, is a hard link, "
        "leaves the version directory or does not exist; its offset or length is negative or "
        "past the end of the file; or a cap (MODELREG_MAX_EXTERNAL_TENSORS, "
        "MODELREG_MAX_FILE_MB) is exceeded.",
        "Re-save the model with its data files beside it (onnx.save_model(..., "
        "save_as_external_data=True, location='model.data')) and re-add the version.",
    ),
    Rule(
        "MR208",
        "external-data-undeclared",
        _E,
        "The ONNX file references an external data file that `artifact.external_data` does "
        "not declare, or the metadata declares a data file the ONNX file does not reference.",
        "Take the list from `modelreg inspect` (or re-add the version with `modelreg add`).",
    ),
    # -- ONNX structure and signature ------------------------------------------------------
    Rule(
        "MR301",
        "onnx-invalid",
        _E,
        "The artifact is not a valid ONNX file (does not parse, or is truncated).",
        "Re-export the model; if it is a Git LFS pointer, pull the object first.",
    ),
    Rule(
        "MR302",
        "onnx-checker",
        _E,
        "`onnx.checker.check_model(path, full_check=True)` rejects the model.",
        "Fix the exporter or the graph; the message quotes the checker.",
    ),
    Rule(
        "MR303",
        "ir-version-mismatch",
        _E,
        "The file's IR version differs from `onnx.ir_version`.",
        "Paste the facts printed by `modelreg inspect` into metadata.yaml.",
    ),
    Rule(
        "MR304",
        "opset-mismatch",
        _E,
        "The file's opset imports differ from `onnx.opsets`.",
        "Paste the facts printed by `modelreg inspect` into metadata.yaml.",
    ),
    Rule(
        "MR305",
        "undeclared-domain",
        _E,
        "An operator comes from a domain that metadata does not declare in `onnx.opsets`.",
        "Declare the custom domain (and make sure the serving runtime has its kernels).",
    ),
    Rule(
        "MR306",
        "producer-mismatch",
        _E,
        "The file's producer name or version differs from `onnx.producer`.",
        "Paste the facts printed by `modelreg inspect` into metadata.yaml.",
    ),
    Rule(
        "MR307",
        "io-name-mismatch",
        _E,
        "Inputs or outputs differ in count, order or name from the metadata.",
        "Callers bind by name and position: add a new version for a changed signature.",
    ),
    Rule(
        "MR308",
        "io-type-mismatch",
        _E,
        "An input or output has another element type or kind (tensor/sequence/map).",
        "Add a new version for a changed signature, or fix the metadata.",
    ),
    Rule(
        "MR309",
        "io-shape-mismatch",
        _E,
        "An input or output has another rank, or a dimension differs "
        "(fixed size, symbol or unknown).",
        "Add a new version for a changed signature, or fix the metadata.",
    ),
    Rule(
        "MR310",
        "labels-count",
        _E,
        "The number of labels in model.yaml differs from the class dimension of the scored output.",
        "List one label per output class, in index order.",
    ),
    # -- runtime ----------------------------------------------------------------------------
    Rule(
        "MR401",
        "session-load",
        _E,
        "An onnxruntime CPU session cannot load the model (unknown op, opset or IR too new).",
        "Serve it with a runtime that supports it, or re-export for a supported opset.",
    ),
    Rule(
        "MR402",
        "session-view",
        _E,
        "The inputs or outputs onnxruntime sees differ from the metadata.",
        "Paste the facts printed by `modelreg inspect` into metadata.yaml.",
    ),
    Rule(
        "MR403",
        "vectors-malformed",
        _E,
        "A golden vector set is missing, misnumbered, unreadable or has the wrong dtype.",
        "Regenerate the set (`input_K.pb`, `output_K.pb` as TensorProto, K from 0).",
    ),
    Rule(
        "MR404",
        "vectors-mismatch",
        _E,
        "The model's output on a golden input differs from the golden output beyond tolerance.",
        "The artifact does not compute what was released: restore it or add a new version.",
    ),
    Rule(
        "MR405",
        "metric-mismatch",
        _E,
        "A claimed metric differs from modelreg's recomputation: accuracy or F1 by more than "
        "1/N, MAE, RMSE or R² by more than 1e-4 relative (plus 1e-6 of the targets' scale).",
        "Metrics are measured, not typed: take the recomputed value (`modelreg add` writes it).",
    ),
    Rule(
        "MR406",
        "eval-data",
        _E,
        "The evaluation file is missing, unreadable, outside the model directory, or its "
        "sha256 or sample count differs from the metadata.",
        "Restore the evaluation file the metrics were measured on, or re-measure.",
    ),
    Rule(
        "MR407",
        "latency-claim",
        _E,
        "On a machine with the same fingerprint as the stored latency, the re-measured median "
        "CPU time per run exceeds the claimed median (`p50_ms`, or `p99_ms` if smaller) by "
        "more than the tolerance (model.yaml `gates.p99_tolerance`, default 25%, plus "
        "`gates.p99_tolerance_ms`, default 0.02 ms) in each of three measurements: the claim "
        "is faster than the artifact.",
        "Re-measure with `modelreg bench` on a quiet machine and store the figure with "
        "`modelreg add`, or find what made the artifact slower.",
    ),
    Rule(
        "MR408",
        "latency-not-comparable",
        Severity.NOTE,
        "The stored latency was measured on another machine or runtime (fingerprint differs), "
        "so it was not re-checked here; this is a note, never a failure.",
        "Nothing to fix. To re-check the figure, run validate on a machine with the stored "
        "fingerprint, or compare versions side by side with `modelreg bench`.",
    ),
    Rule(
        "MR409",
        "eval-data-bounds",
        _E,
        "The evaluation file (`.npz`) is refused before anything is decompressed: an array's "
        "header declares more data than the metadata's input signature and "
        "`evaluation.data.samples` allow, or more than `MODELREG_MAX_EVAL_MB` (default 4096) "
        "in all; a member expands far beyond its compressed size (a zip bomb); a member name, "
        "compression method or dtype is not what `numpy.savez` writes (object arrays would "
        "need pickle).",
        "Write the evaluation file with `numpy.savez` or `numpy.savez_compressed`: one array "
        "per model input and `labels`, one row per sample, plain numeric dtypes.",
    ),
    Rule(
        "MR411",
        "classifier-metrics-on-one-column",
        _E,
        "Accuracy and F1 are claimed for a scored output of one float per row ([N] or [N, 1], "
        "a regressor's): its argmax is always class 0, so the claims prove nothing.",
        "Re-add the version with float targets in the evaluation file's `labels`: "
        "`modelreg add` then measures MAE, RMSE and R². For a classifier, score its class "
        "scores output.",
    ),
    # -- registry layout and lifecycle ----------------------------------------------------
    Rule(
        "MR501",
        "name-mismatch",
        _E,
        "A directory name differs from the `name`/`model`/`version` field inside it.",
        "Rename the directory or fix the field so both say the same.",
    ),
    Rule(
        "MR502",
        "version-not-in-lifecycle",
        _E,
        "A version directory is not listed in the model's `lifecycle`.",
        "Add the version to `lifecycle` in model.yaml (new versions start as `candidate`).",
    ),
    Rule(
        "MR503",
        "lifecycle-without-directory",
        _E,
        "A `lifecycle` entry names a version that has no directory.",
        "Remove the entry or add the version with `modelreg add`.",
    ),
    Rule(
        "MR504",
        "production-count",
        _E,
        "A model must have exactly one `production` version. A new model whose versions are "
        "all `candidate` (or that has none yet) needs none until the production environment "
        "(`overlays/production/`) runs one of them; once any version is `production`, "
        "`supported`, `deprecated` or `retired`, exactly one must be `production`.",
        "Promote one version with `modelreg promote MODEL VERSION --env production`.",
    ),
    Rule(
        "MR505",
        "supported-without-date",
        _E,
        "A `supported` version must say until when with `supported_until`.",
        "Add `supported_until: YYYY-MM-DD` to the lifecycle entry.",
    ),
    Rule(
        "MR506",
        "release-order",
        _E,
        "Semantic version order disagrees with release dates.",
        "A higher version must not be released before a lower one; fix the dates.",
    ),
    Rule(
        "MR507",
        "metadata-missing",
        _E,
        "A model directory has no model.yaml, or a version directory no metadata.yaml.",
        "Add the file (`modelreg add` writes both).",
    ),
    Rule(
        "MR508",
        "todo-left",
        _E,
        "A field that needs a human still says TODO: `summary`, `changes` or `migration` in "
        "metadata.yaml, or `title`, `description`, `owners` or `labels` in model.yaml "
        "(`modelreg add` writes TODO placeholders for what its flags did not give).",
        "Write the field (or pass --summary, --change, --migration, and for a new model "
        "--title, --description, --owner, --labels to `modelreg add`).",
    ),
    Rule(
        "MR509",
        "stray-entry",
        _W,
        "A file or directory under models/ is neither a model nor a version.",
        "Move it out of models/, or name version directories by semver (`1.2.0`).",
    ),
    Rule(
        "MR510",
        "release-date-future",
        _E,
        "A version's `release_date` is later than today (UTC, one day of slack for time "
        "zones): a date nobody can have released on yet, usually a typo in the year.",
        "Write the date the version was added (`modelreg add` writes today's date).",
    ),
    # -- GitOps: overlays, environments and deployment policy ------------------------------
    Rule(
        "MR601",
        "env-version-missing",
        _E,
        "An environment overlay (`overlays/<env>/kustomization.yaml`) runs a version that has "
        "no `models/<model>/<version>/` directory or no `overlays/<model>/v<version>/` overlay.",
        "Fix the line, add the version (`modelreg add`), or generate its overlay "
        "(`modelreg overlays`).",
    ),
    Rule(
        "MR602",
        "env-version-not-deployable",
        _E,
        "An environment runs a version that is `deprecated` or `retired` in model.yaml, or "
        "that the lifecycle does not list at all.",
        "Remove the line (`modelreg rollback`, or promote another version), or correct the "
        "lifecycle.",
    ),
    Rule(
        "MR603",
        "alias-not-production",
        _E,
        "The stable Service alias (`overlays/<env>/<model>.alias.yaml`) selects a version that "
        "does not run in the environment, or, in production, not the version whose lifecycle "
        "status is `production`.",
        "Promote with `modelreg promote MODEL VERSION --env ENV`; it edits the lifecycle, the "
        "version line and the alias together.",
    ),
    Rule(
        "MR604",
        "lifecycle-env-disagree",
        _E,
        "model.yaml and the production overlay disagree: the `production` version does not run "
        "in production, or production runs a version that is still a `candidate`.",
        "Promote with `modelreg promote`, which changes both in one commit.",
    ),
    Rule(
        "MR605",
        "overlay-stale",
        _E,
        "A version overlay is missing, differs from what its metadata generates, has files "
        "modelreg did not generate, or exists for a version that does not.",
        "Run `modelreg overlays` and commit the result; never edit generated overlays by hand.",
    ),
    Rule(
        "MR606",
        "kustomization-not-portable",
        _E,
        "A kustomization needs more than a default `kustomize build`: a remote resource, a "
        "file outside its directory (needs `--load-restrictor`), plugins, Helm or exec "
        "functions, or an entry that does not exist.",
        "Vendor remote bases into the repository, move files into the kustomization's "
        "directory, and commit generated manifests instead of generators.",
    ),
    Rule(
        "MR610",
        "overlay-build",
        _E,
        "An overlay does not build with plain `kustomize build` / `kubectl kustomize` (default "
        "options), or kustomize prints a warning while building it.",
        "Run `kubectl kustomize overlays/...` and fix what it reports.",
    ),
    Rule(
        "MR611",
        "image-reference",
        _E,
        "A container image has no tag or uses `:latest` (a moving target), or its digest is "
        "not `sha256:` followed by 64 hex digits.",
        "Reference a released tag (`nvcr.io/nvidia/tritonserver:24.04-py3`), and pin a digest "
        "only after verifying it.",
    ),
    Rule(
        "MR612",
        "image-unpinned",
        _W,
        "A container image is referenced by tag only, not by digest: the pinning report "
        "(a tag can be moved to other bytes; a digest cannot).",
        "Look up the digest of the image you tested (`crane digest IMAGE` or `docker "
        "buildx imagetools inspect IMAGE`) and reference `IMAGE@sha256:...`.",
    ),
    Rule(
        "MR613",
        "resource-limits",
        _E,
        "A container has no CPU or no memory limit.",
        "Set `resources.limits` (base) or `deployment.resources` in metadata.yaml.",
    ),
    Rule(
        "MR614",
        "security-context",
        _E,
        "A container may run as root, write its root filesystem, escalate privileges or run "
        "privileged.",
        "Set `runAsNonRoot: true`, `readOnlyRootFilesystem: true` and "
        "`allowPrivilegeEscalation: false`; mount an emptyDir where it must write.",
    ),
    Rule(
        "MR615",
        "probes",
        _E,
        "A serving container lacks a liveness, readiness or startup probe.",
        "Probe Triton's `/v2/health/live` and `/v2/health/ready`; a startup probe gives "
        "large models time to load.",
    ),
    Rule(
        "MR616",
        "labels",
        _E,
        "A pod template lacks the `model` or `version` label, or a selector uses the "
        "`version` label (selectors are immutable on workloads).",
        "Generate the version overlay with `modelreg overlays`: it sets the labels with "
        "`includeSelectors: false` and selects on a per-version instance label.",
    ),
    Rule(
        "MR617",
        "cluster-manifest",
        _E,
        "A Flux `GitRepository`/`Kustomization` or Argo CD `Application` under clusters/ lacks "
        "a field it needs (url, interval, path, prune, source, destination, automated prune) "
        "or points at a path without a kustomization.",
        "Compare with clusters/production/ in this repository.",
    ),
    Rule(
        "MR618",
        "k8s-schema",
        _E,
        "A rendered object of a built-in Kubernetes kind does not validate against that "
        "Kubernetes release's strict JSON Schema (`kubernetes-validate`, Kubernetes 1.31 unless "
        "`MODELREG_KUBERNETES_VERSION` says otherwise): an unknown or misspelt field, a wrong "
        "type, a missing required field, or a kind its apiVersion does not have. Without "
        "`kubernetes-validate` installed this is one note saying so.",
        "Fix the field the message names in overlays/base/ (or the generator's input); install "
        "the checker with `pip install 'modelreg[gitops]'`.",
    ),
    Rule(
        "MR619",
        "placeholder-url",
        _W,
        "A Flux `GitRepository`, an Argo CD `Application` or `overlays/base/registry.env` still "
        "points at a placeholder repository URL (a reserved example domain such as "
        "git.example.com), so the cluster and the fetch step cannot reach the registry.",
        "Write the registry's clone URL there, or scaffold with `modelreg init --repo-url URL`.",
    ),
    Rule(
        "MR620",
        "host-access",
        _E,
        "A pod shares the node's network, process or IPC namespace (`hostNetwork`, `hostPID`, "
        "`hostIPC`) or mounts a `hostPath` volume: a model server never needs the node.",
        "Remove the field; mount an `emptyDir` (or a PersistentVolumeClaim) for files, and "
        "expose ports through the Service.",
    ),
    Rule(
        "MR621",
        "capabilities-added",
        _E,
        "A container adds Linux capabilities (`securityContext.capabilities.add`).",
        "Remove `capabilities.add` (and drop `ALL`); Triton serves on unprivileged ports.",
    ),
    Rule(
        "MR622",
        "image-registry-not-allowed",
        _E,
        "A workload pulls an image from a registry that `overlays/policy.yaml` "
        "(`allowed_image_registries`) does not list, or that file is unusable. Without the "
        "file there is no allow-list.",
        "Mirror the image into an allowed registry and reference it there, or add the "
        "registry to `allowed_image_registries` after review.",
    ),
    Rule(
        "MR623",
        "kustomize-input-unsafe",
        _E,
        "What a kustomize build would read is refused, so kustomize is not started for it: a "
        "remote entry (URL, `github.com/...`, `git::`, `?ref=`), an absolute path, a path "
        "leaving the repository or the area builds may read (`overlays/`, `clusters/`), a "
        "symlink anywhere under `overlays/` or on an entry's way, a missing entry (kustomize "
        "would try it as a remote), a `kustomization.yml`/`Kustomization` (or two "
        "kustomization files in one directory), or a kustomization that modelreg's bounded "
        "YAML loader refuses (alias bomb, duplicate key).",
        "Vendor remote manifests into the repository, use relative paths inside `overlays/`, "
        "commit files instead of symlinks, and name the file `kustomization.yaml`.",
    ),
    Rule(
        "MR624",
        "env-version-ref-not-canonical",
        _E,
        "An environment overlay names a version (or any other directory) in another form "
        "than exactly `../<model>/v<version>` (`./../m/v1.0.0`, `../m/v1.0.0/`, "
        "`../m/../m/v1.0.0`, `bases:`/`components:`): modelreg does not interpret it, so the "
        "lifecycle rules could not see what it deploys.",
        "Write the line as `../<model>/v<version>` (as `modelreg promote` does); list other "
        "manifests of the environment as files of its directory.",
    ),
    Rule(
        "MR625",
        "alias-selects-wrong-pods",
        _E,
        "The rendered stable Service alias of a model does not select exactly the pods of "
        "the version it must serve (in production the lifecycle's `production` version): "
        "judged from the rendered Service's `spec.selector` against the rendered workloads' "
        "pod labels, whatever its `modelreg.dev/version` annotation says.",
        "Regenerate the alias with `modelreg promote`; remove environment patches of the "
        "alias or of the workloads' labels.",
    ),
    Rule(
        "MR626",
        "served-artifact-mismatch",
        _E,
        "A rendered workload of an environment would fetch something other than its "
        "version's metadata says: the fetch step's `MODEL_SHA256`, `MODEL_PATH`, "
        "`MODEL_REF` or `MODEL_STORAGE_URI` (after every patch, ConfigMap and `env` "
        "override) differs from `artifact.sha256`, the artifact path, the release tag or "
        "`artifact.storage_uri`, or cannot be determined.",
        "Remove the environment patch; a version's artifact changes only as a new version "
        "(`modelreg add`).",
    ),
    Rule(
        "MR627",
        "kustomize-plugin",
        _E,
        "A kustomization would make kustomize run something: `helmCharts`/`helmGlobals`, a "
        "`transformers`/`generators`/`validators` entry that is not a plain local file of a "
        "builtin kind, or a `config.kubernetes.io/function` annotation (exec or container "
        "functions). kustomize is not started for it.",
        "Commit the rendered manifests instead of generating them at build time; use the "
        "kustomization's own fields (labels, patches, replacements) for transformations.",
    ),
    Rule(
        "MR628",
        "controller-crd-schema",
        _E,
        "A Flux `GitRepository`/`Kustomization` or Argo CD `Application` under clusters/ "
        "would be rejected by the API server: checked against the controllers' own CRD "
        "schemas (vendored in `modelreg/gitops/crds/`, versions in its README) as the API "
        "server checks them: served apiVersion, types, required fields, enums, patterns (Flux "
        "URLs are `http(s)://` or `ssh://`, intervals Go durations), lengths, unknown fields "
        "(kubectl's default strict field validation), the CRDs' CEL rules and the name.",
        "Apply the fix the message gives: `git@host:path` becomes `ssh://git@host/path`, "
        "`1minute` becomes `1m`; remove or respell an unknown field.",
    ),
    Rule(
        "MR629",
        "serving-runtime-too-old",
        _E,
        "A version's model needs a higher IR version, `ai.onnx` opset or `ai.onnx.ml` opset "
        "(metadata.yaml `onnx`) than the onnxruntime of the serving image that would run it "
        "loads: every version against the image of overlays/base (any version may be "
        "promoted), and in a deep run each environment's rendered workloads.",
        "Export the model with the opset (and an onnx release writing the IR version) the "
        "message names, or deploy a newer serving image and update its "
        '`modelreg.dev/onnxruntime-version` annotation (docs/gitops.md, "The serving runtime").',
    ),
    Rule(
        "MR630",
        "serving-runtime-unknown",
        _E,
        "What a serving image loads cannot be known or its declaration is wrong: the image is "
        "not a Triton release modelreg knows and its pod template declares no "
        "`modelreg.dev/onnxruntime-version`; the declared version contradicts the Triton "
        "release's own; or an onnxruntime newer than modelreg's table lacks the "
        "`modelreg.dev/onnx-max-opset`, `modelreg.dev/onnx-ml-max-opset` and "
        "`modelreg.dev/onnx-max-ir-version` annotations.",
        "Declare the onnxruntime version the image runs on the workload's pod template, as "
        "its release notes give it; for a runtime newer than the table also the three limits.",
    ),
    # -- git: release tags, immutability, support windows, Git LFS -------------------------
    Rule(
        "MR700",
        "git-unavailable",
        _W,
        "The release rules (MR701-MR704, MR707, MR708) could not run: git is missing, the "
        "registry is not in a git work tree, or a shallow clone has no tags.",
        "Validate a full clone with tags (`git fetch --tags --unshallow`; `fetch-depth: 0` "
        "in actions/checkout).",
    ),
    Rule(
        "MR701",
        "released-version-changed",
        _E,
        "A file of a released version (its directory or its overlay `overlays/<model>/"
        "v<version>/`) differs from the release tag; released versions are frozen.",
        "Restore the file from the tag (`git checkout <tag> -- <path>`) and release the "
        "change as a new version (`modelreg add`).",
    ),
    Rule(
        "MR702",
        "release-tag-lightweight",
        _E,
        "A release tag is a lightweight tag: it has no tagger, date or message, and moves "
        "silently.",
        "Delete it and let `modelreg release` create an annotated tag, or `git tag -f -a`.",
    ),
    Rule(
        "MR703",
        "release-tag-moved",
        _E,
        "A release tag no longer points at its version: its commit lacks the version "
        "directory, or the directory's tree differs from the `Version-Tree` recorded in the "
        "tag message when it was created.",
        "Point the tag back at the commit it was created for (`git tag -f -a`) and push it "
        "with `--force` only after agreeing with the registry's consumers.",
    ),
    Rule(
        "MR704",
        "release-tag-orphaned",
        _E,
        "A release tag of a model names a version whose directory is not in the tree.",
        "Restore the version directory (released versions are kept, marked `retired`), or "
        "delete the stray tag.",
    ),
    Rule(
        "MR705",
        "support-ended",
        _W,
        "A `supported` version is past its `supported_until` date (and within the grace "
        "period `support_grace_days` of model.yaml, or the model sets none).",
        "Mark it `deprecated` and move its deployments, or extend `supported_until`.",
    ),
    Rule(
        "MR706",
        "support-expired",
        _E,
        "A `supported` version is past its `supported_until` date by more than the grace "
        "period `support_grace_days` set in model.yaml (without it, MR705 warns only).",
        "Mark it `deprecated` (or `retired`) and move its deployments, or extend "
        "`supported_until` if support really continues.",
    ),
    Rule(
        "MR707",
        "lfs-expected",
        _E,
        "An artifact is committed as a plain git blob although .gitattributes routes it to "
        "Git LFS (`filter=lfs`).",
        "Re-add it with git-lfs installed (`git rm --cached <path> && git add <path>`), or "
        "`git lfs migrate import` to rewrite history.",
    ),
    Rule(
        "MR708",
        "lfs-unexpected",
        _E,
        "An artifact is committed as a Git LFS pointer although no .gitattributes line routes "
        "it to LFS, so clones check out the pointer text instead of the model.",
        "Add the LFS lines to .gitattributes (`*.onnx filter=lfs diff=lfs merge=lfs -text`).",
    ),
    Rule(
        "MR709",
        "tag-prefix-collision",
        _E,
        "Two models' release tags can be mistaken for each other: the same `tag_prefix` "
        "(also when only the case differs), or one extending the other so that the rest "
        "reads as a version (`bert` and `bert-v1.0.0` both read `bert-v1.0.0-v2.0.0`). A "
        "release of one would be judged, moved or deleted as the other's.",
        "Give each model its own `tag_prefix` that does not start with another's followed "
        "by `-v` and a version.",
    ),
    Rule(
        "MR710",
        "gto-stage-mismatch",
        _E,
        "GTO's tags and modelreg disagree: the version GTO has in a stage (`gto assign`, "
        "latest assignment wins) is not the version the mapped environment overlay serves, "
        "GTO deregistered a version model.yaml still lists as live, GTO deprecated a model "
        "that still runs, GTO cannot read the tags, or overlays/gto.yaml (environment → "
        "stage) is unusable. docs/gto.md has the mapping.",
        "Make both say the same: `gto assign NAME --version vX --stage STAGE` for what the "
        "overlay serves, or promote/roll back with modelreg; fix overlays/gto.yaml.",
    ),
    # -- generated files ------------------------------------------------------------------
    Rule(
        "MR801",
        "generated-stale",
        _E,
        "A file that says it is generated by `modelreg render` (MODEL_REGISTRY.md, "
        "docs/models/<model>.md, docs/DEVELOPMENT.md) differs from what the registry renders "
        "to, or is the card of a model that no longer exists.",
        "Run `modelreg render` and commit the result; never edit generated files by hand.",
    ),
    # -- could not run --------------------------------------------------------------------
    Rule(
        "MR901",
        "check-not-run",
        _E,
        "A check could not run, so nothing was proven (dependency absent, file unreadable).",
        "Install what the message names (`pip install 'modelreg[onnx]'`) or fix the input.",
    ),
    Rule(
        "MR902",
        "checker-died",
        _E,
        "The isolated ONNX checker crashed, timed out or ran out of memory on the artifact.",
        "Treat the file as hostile until proven otherwise; re-export it from a trusted source.",
    ),
)

BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}


def rule(rule_id: str) -> Rule:
    """The rule with this id; a typo in a check is a bug, so fail loudly."""
    return BY_ID[rule_id]


def matches(rule_id: str, patterns: tuple[str, ...]) -> bool:
    """Whether ``rule_id`` is selected by any of ``patterns`` (prefixes, like ruff's)."""
    return any(rule_id.startswith(p) for p in patterns)
