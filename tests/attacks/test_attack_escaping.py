"""Every generated file and CI line escapes what it quotes (issue #17, point 5), attacked from a PR.

The pull request puts markup in the texts modelreg copies into the registry page and the model
cards, protobuf syntax in a tensor name that lands in Triton's config.pbtxt, workflow commands
in a directory name that lands in annotations and in $GITHUB_OUTPUT, and Markdown, HTML and
the sticky comment's marker in a Kubernetes object name that lands in the plan comment. Each
must come out as inert text with the file's shape intact; the guard proves that read-only
runs left ``.git/`` and the files beside the repository byte-identical.
"""

from __future__ import annotations

import json
import re
import shutil

from attack_support import PullRequest
from test_gitops_overlays import parse_triton_config

MODEL_YAML = "models/bert-classifier/model.yaml"
META = "models/bert-classifier/1.1.0/metadata.yaml"
PAGE = "MODEL_REGISTRY.md"
CARD = "docs/models/bert-classifier.md"
#: A version directory name carrying workflow commands (new and legacy form).
HOSTILE_DIR = "1.2.0\n::stop-commands::tok##[add-mask]x"


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_markup_in_titles_notes_and_summaries_renders_as_text(pr: PullRequest) -> None:
    pr.replace(
        MODEL_YAML,
        "title: BERT Sentiment Classifier",
        'title: "\\"]; click A call evil() <script>alert(1)</script>"',
    )
    pr.replace(
        MODEL_YAML,
        "description: Binary sentiment classification for English text.",
        'description: "[click](javascript:alert(1))"',
    )
    pr.replace(
        MODEL_YAML,
        "note: Recommended version",
        'note: "a | b\\n```\\n<!-- modelreg:block 99 -->"',
    )
    pr.replace(
        META,
        "summary: Data augmentation and improved preprocessing.",
        'summary: "`x` | <img src=x onerror=alert(1)>\\n# heading"',
    )
    markers_before = [
        line for line in pr.path(PAGE).read_text("utf-8").splitlines() if line.startswith("<")
    ]
    result = pr.run("render")
    assert result.code == 0, result

    page = pr.path(PAGE).read_text("utf-8").splitlines()
    assert '### "\\]; click A call evil() &lt;script&gt;alert(1)&lt;/script&gt;' in page
    assert "\\[click\\](javascript:alert(1))" in page
    row = (
        "| **1.1.0** | 2024-01-22 | **94.95%** | **94.96%** | **0.477ms** | model-bert-v1.1.0 "
        "| **✅ Production** | a \\| b \\`\\`\\` &lt;!-- modelreg:block 99 --&gt; |"
    )
    assert row in page
    assert _unescaped_pipes(row) == 9  # the table keeps its eight columns
    assert (
        '    title "#quot;]; click A call evil() #lt;script#gt;alert(1)#lt;/script#gt;: '
        'accuracy (bars) and F1 (line), %"'
    ) in page
    # No new HTML line, no forged block marker: the page's "<" lines are modelreg's own.
    assert [line for line in page if line.startswith("<")] == markers_before

    card = pr.path(CARD).read_text("utf-8").splitlines()
    assert "| Summary | \\`x\\` \\| &lt;img src=x onerror=alert(1)&gt; # heading |" in card
    assert (
        '# "\\]; click A call evil() &lt;script&gt;alert(1)&lt;/script&gt; (`bert-classifier`)'
        in card
    )
    assert not any("<script" in line or "<img" in line for line in page + card)

    pr.commit("hostile texts")
    results = pr.read_only((("render", "--check"), ("validate", "--fast")))
    assert [r.code for r in results] == [0, 0], "\n".join(map(str, results))


def test_a_hostile_tensor_name_stays_one_string_in_config_pbtxt(pr: PullRequest) -> None:
    hostile = '} input { name: "evil" data_type: TYPE_FP32 dims: [ 1 ] }\n#'
    pr.replace(META, "    - name: input_ids\n", f"    - name: {json.dumps(hostile)}\n")
    result = pr.run("overlays")
    assert result.code == 0, result
    text = pr.path("overlays/bert-classifier/v1.1.0/config.pbtxt").read_text("utf-8")
    assert '    name: "} input { name: \\"evil\\" data_type: TYPE_FP32 dims: [ 1 ] }\\n#"' in (
        text.splitlines()
    )
    config = parse_triton_config(text)
    assert [i.name for i in config.input] == [hostile, "attention_mask"]
    assert [o.name for o in config.output] == ["logits"]
    assert config.name == "bert-classifier"

    pr.commit("hostile tensor name")
    [check] = pr.read_only((("overlays", "--check"),))
    assert "MR6" not in check.out.replace("MR612", "").replace("MR619", ""), check


def _hostile_version_dir(pr: PullRequest) -> None:
    target = pr.path(f"models/bert-classifier/{HOSTILE_DIR}")
    target.mkdir()
    shutil.copy(pr.path(META), target / "metadata.yaml")
    pr.commit("a version directory named like workflow commands")


def test_workflow_commands_in_a_directory_name_stay_one_encoded_annotation(
    pr: PullRequest,
) -> None:
    _hostile_version_dir(pr)
    pr.snapshot()
    result = pr.run("validate", "--fast", "--output", "github")
    pr.assert_untouched(str(result))
    assert result.code == 1, result
    encoded = "1.2.0%0A%3A%3Astop-commands%3A%3Atok##[add-mask]x"
    assert (
        f"::error file=models/bert-classifier/{encoded}/metadata.yaml,"
        "title=MR502 version-not-in-lifecycle::1.2.0%0A::stop-commands::tok##[add-mask]x is "
        "not in the lifecycle of models/bert-classifier/model.yaml; add it (new versions "
        "start as `candidate`)"
    ) in result.out.splitlines()
    # Every stdout line is one of modelreg's own annotations; stderr starts none.
    assert all(
        re.match(r"::(error|warning|notice) file=", line) for line in result.out.splitlines()
    )
    for line in result.err.splitlines():
        assert not line.lstrip().startswith("::") and "##[" not in line, line

    text = pr.run("validate", "--fast")
    assert text.code == 1, text
    assert (
        "models/bert-classifier/1.2.0\\n::stop-commands::tok##[add-mask]x/metadata.yaml: MR502 "
        "1.2.0\\n::stop-commands::tok##[add-mask]x is not in the lifecycle of "
        "models/bert-classifier/model.yaml; add it (new versions start as `candidate`)"
    ) in text.out.splitlines()
    assert not any(line.lstrip().startswith("::") for line in text.out.splitlines())
    pr.assert_untouched(str(text))


def test_ci_matrix_for_github_stays_one_key_per_line(pr: PullRequest) -> None:
    _hostile_version_dir(pr)
    [result] = pr.read_only((("ci-matrix", "--base", "main", "--output", "github"),))
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert [line.split("=", 1)[0] for line in lines] == ["matrix", "count", "gates"]
    assert "##[" not in result.out
    matrix = json.loads(lines[0].removeprefix("matrix="))
    assert [entry["version"] for entry in matrix["include"]] == [HOSTILE_DIR]
    assert lines[1:] == ["count=1", "gates=0"]


def test_a_hostile_object_name_stays_in_one_code_span_of_the_plan_comment(
    pr: PullRequest,
) -> None:
    name = "a`b``c <!-- modelreg-plan --> | @org/team [x](javascript:alert(1))"
    configmap = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        f"  name: {json.dumps(name)}\ndata:\n  k: |\n    {{}}\n"
    )
    pr.write("overlays/production/evil.yaml", configmap.format("before"))
    pr.replace(
        "overlays/production/kustomization.yaml",
        "  - bert-classifier.alias.yaml\n",
        "  - bert-classifier.alias.yaml\n  - evil.yaml\n",
    )
    pr.commit("a config map")
    pr.write(
        "overlays/production/evil.yaml",
        configmap.format(
            "````\n    </details>\n    <!-- modelreg-plan -->\n    ::stop-commands::t"
        ),
    )
    pr.commit("its data changes")
    [result] = pr.read_only((("plan", "--base", "HEAD~1", "--output", "markdown"),))
    assert result.code == 1, result  # like git diff --exit-code: the merge changes objects
    lines = result.out.splitlines()
    assert lines[0] == "### modelreg plan: `HEAD~1` → `work tree`"
    label = f"ConfigMap/models-production/{name}"
    assert f"- changed ```{label}```" in lines
    # The diff's ```` line cannot close the block: its fence is five backticks.
    start = lines.index("`````diff")
    end = lines.index("`````", start + 1)
    assert lines[end + 1 : end + 3] == ["", "</details>"]
    assert "+    ````" in lines[start:end]
    # Outside the fenced diff and the code spans nothing is HTML: no forged marker or mention.
    outside = "\n".join(lines[:start] + lines[end:]).replace(f"```{label}```", "")
    assert re.findall(r"<[a-z/!]", outside) == ["<d", "<s", "</", "</"]  # details, summary
    assert "@org" not in outside
