"""Escaping of quoted values: one function per place a value lands (issue #17, point 5)."""

from __future__ import annotations

import re

import pytest

from modelreg import escape, reporters
from modelreg.checks import ci
from modelreg.findings import Finding, Severity
from modelreg.gitops.plan import EnvPlan, MetricRow, Plan, to_markdown, to_text
from modelreg.render import text

PLAIN = [
    "BERT Sentiment Classifier",
    "Binary sentiment classification for English text.",
    "Synthetic English review sentences from scripts/build_example_models.py (seed 20240611): x.",
    "Support ended; migrate to v1.1.0",
    "models/bert-classifier/1.1.0/model.onnx",
    "v1.0.0",
    "0.005",
    "2024-03-01",
    "@modelreg/ml-platform",
]


@pytest.mark.parametrize("value", PLAIN)
def test_every_function_is_the_identity_on_plain_text(value: str) -> None:
    assert escape.inline(value) == value
    assert escape.cell(value) == value
    assert escape.code(value) == f"`{value}`"
    assert escape.one_line(value) == value
    assert escape.html(value) == value
    assert escape.html_comment(value) == value
    assert escape.mermaid_text(value) == value
    assert reporters.printable(value) == value
    assert reporters.log_line(value) == value
    assert reporters.escape_data(value) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("[click](javascript:alert(1))", "\\[click\\](javascript:alert(1))"),
        ("![img](https://e.invalid/x.png)", "!\\[img\\](https://e.invalid/x.png)"),
        ("a\nb\r\nc\u2028d", "a b c d"),
        ("``` fence", "\\`\\`\\` fence"),
        ("back\\slash", "back\\\\slash"),
        ("AT&T &lt;", "AT&amp;T &amp;lt;"),
        ("# heading", "\\# heading"),
        ("- item", "\\- item"),
        ("> quote", "&gt; quote"),
        ("1. item", "1\\. item"),
        ("12) item", "12\\) item"),
        ("=====", "\\====="),
        ("<!-- modelreg:block 99 -->", "&lt;!-- modelreg:block 99 --&gt;"),
        ("bell\x07esc\x1b[31m", "bell\ufffdesc\ufffd\\[31m"),
    ],
)
def test_inline_renders_markup_as_text(value: str, expected: str) -> None:
    assert escape.inline(value) == expected


def test_cell_keeps_one_row_and_its_columns() -> None:
    assert escape.cell("a | b\nc") == "a \\| b c"
    row = "| " + " | ".join(escape.cell(escape.inline(v)) for v in ("x|y", "1\n|2")) + " |"
    assert "\n" not in row
    assert len(re.findall(r"(?<!\\)\|", row)) == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a`b", "``a`b``"),
        ("a``b`", "``` a``b` ```"),
        ("`x", "`` `x ``"),
        ("x\ny", "`x y`"),
        (" a ", "`  a  `"),
        ("<b>|</b>", "`<b>|</b>`"),
    ],
)
def test_code_span_cannot_be_closed_by_its_value(value: str, expected: str) -> None:
    assert escape.code(value) == expected


def test_link_keeps_text_and_a_relative_destination() -> None:
    assert (
        escape.link("docs/models/m.md", "docs/models/m.md")
        == "[docs/models/m.md](docs/models/m.md)"
    )
    assert escape.link("[x]", "javascript:alert(1)") == "[\\[x\\]](javascript%3Aalert%281%29)"
    assert escape.link_url("a b)c") == "a%20b%29c"


def test_html_and_html_comment() -> None:
    assert escape.html('<a href="x">&</a>') == "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
    assert escape.html_comment("x --> <script>\n") == "x --&gt; &lt;script&gt; "


def test_mermaid_label_stays_one_quoted_string() -> None:
    label = escape.mermaid_label('"]; click A call evil()\n%%{init: {}}%% #x <b>')
    assert label == '"#quot;]; click A call evil() #37;#37;{init: {}}#37;#37; #35;x #lt;b#gt;"'
    assert label.count('"') == 2
    assert "\n" not in label


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("model-bert-v1.1.0", "model-bert-v1.1.0"),
        ("a b", "'a b'"),
        ("$(curl evil|sh)", "'$(curl evil|sh)'"),
        ("it's", "'it'\"'\"'s'"),
        ("x\n```\ny", "$'x\\x0a```\\x0ay'"),
        ("q'\\\t", "$'q\\'\\\\\\x09'"),
    ],
)
def test_shell_word(value: str, expected: str) -> None:
    assert escape.shell_word(value) == expected


def test_shell_dq_keeps_the_double_quoted_form_only_when_inert() -> None:
    assert escape.shell_dq("models/m/1.0.0/model.onnx") == '"models/m/1.0.0/model.onnx"'
    assert escape.shell_dq("abc  def") == '"abc  def"'
    assert escape.shell_dq("m$(id).onnx") == "'m$(id).onnx'"
    assert escape.shell_dq("a`id`") == "'a`id`'"


def test_trend_bars_keep_labels_on_one_line() -> None:
    from decimal import Decimal

    lines = text.bars([("v1\n```", "1%", Decimal(1))], "none")
    assert lines == ["v1 ```: 1% " + text.bar(Decimal(1), Decimal(1))]


# -- GitHub workflow commands -------------------------------------------------------------------


def test_workflow_command_encoding() -> None:
    assert reporters.escape_data("100%\r\n::x") == "100%25%0D%0A::x"
    assert reporters.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


def test_github_annotation_is_one_line_with_every_field_encoded() -> None:
    finding = Finding(
        "models/x\n::stop-commands::t/metadata.yaml",
        3,
        1,
        "MR501",
        Severity.ERROR,
        "name `x\n::stop-commands::t` 100%",
    )
    line = reporters.format_github(finding)
    assert line == (
        "::error file=models/x%0A%3A%3Astop-commands%3A%3At/metadata.yaml,line=3,col=1,"
        "title=MR501 name-mismatch::name `x%0A::stop-commands::t` 100%25"
    )


def test_text_findings_stay_one_line() -> None:
    finding = Finding("a\nb.yaml", None, None, "MR501", Severity.WARNING, "x\r\n::error::y \x1b[2J")
    assert reporters.format_text(finding) == (
        "a\\nb.yaml: MR501 (warning) x\\r\\n::error::y \\x1b[2J"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("::stop-commands::x", "%::stop-commands::x"),
        ("   ::add-mask::x", "%   ::add-mask::x"),
        ("ok\n::set-output name=a::b", "ok\\n::set-output name=a::b"),
        ("text ##[stop-commands]tok", "text #%23[stop-commands]tok"),
    ],
)
def test_log_line_never_starts_a_workflow_command(value: str, expected: str) -> None:
    assert reporters.log_line(value) == expected


def test_github_output_single_and_multi_line() -> None:
    assert reporters.github_output("count", "3") == "count=3\n"
    entry = reporters.github_output("matrix", "a\nevil=1\r\nb")
    head, body = entry.split("\n", 1)
    key, delimiter = head.split("<<")
    assert key == "matrix"
    assert re.fullmatch(r"ghadelimiter_[0-9a-f]{32}", delimiter)
    assert body == f"a\nevil=1\r\nb\n{delimiter}\n"
    assert reporters.github_output("m", "x\ny") != reporters.github_output("m", "x\ny")
    with pytest.raises(ValueError, match="not an output name"):
        reporters.github_output("a=b", "c")


def test_job_summary_table_quotes_paths_and_messages_as_text() -> None:
    finding = Finding(
        "m/`x`|y\n.yaml",
        None,
        None,
        "MR501",
        Severity.ERROR,
        "<img src=x> | [a](javascript:b)\n# h",
    )
    summary = ci.markdown_summary([finding], "registry")
    row = summary.splitlines()[4]
    assert row == (
        "| ``m/`x`\\|y .yaml`` | MR501 | error | &lt;img src=x&gt; \\| \\[a\\](javascript:b) # h |"
    )


# -- the plan comment ---------------------------------------------------------------------------

HOSTILE = "a`b``c <!-- modelreg-plan --> | @org/team [x](javascript:alert(1))\n# forged"


def _plan(diff: str = "") -> Plan:
    env = EnvPlan(HOSTILE, added=[f"ConfigMap/ns/{HOSTILE}"], changed=["Service/ns/s"], diff=diff)
    row = MetricRow(
        HOSTILE,
        "m|x",
        "1.0.0",
        "1.1.0`",
        {"accuracy": (0.9, 0.95)} | {"f1": (None, None), "p99_ms": (None, None)},
    )
    return Plan("main", "HEAD", [env], [row])


def test_plan_markdown_quotes_every_name_in_a_code_span() -> None:
    diff = "--- a\n+++ b\n@@ -1 +1 @@\n-x\n+````\n+</details>\n+<!-- modelreg-plan -->\n"
    out = to_markdown(_plan(diff))
    lines = out.splitlines()
    code = escape.code(HOSTILE)
    assert (
        code == "```a`b``c <!-- modelreg-plan --> | @org/team [x](javascript:alert(1)) # forged```"
    )
    assert f"- added {escape.code('ConfigMap/ns/' + HOSTILE)}" in lines
    assert f"#### {code}" in lines
    assert f"| {code.replace('|', chr(92) + '|')} | 1 | 1 | 0 | 0 |" in lines  # ... Kept
    assert not any(line.startswith(("<!--", "#### a", "# forged")) for line in lines)
    assert lines[0] == "### modelreg plan: `main` → `HEAD`"
    # The diff's own ```` line cannot close the fence: it is five backticks long.
    assert "`````diff" in lines
    assert lines[lines.index("`````diff") + 8 :][:3] == ["`````", "", "</details>"]
    # Outside the diff, the only HTML is modelreg's <details>.
    outside = "\n".join(lines[: lines.index("`````diff")])
    for span in (code, escape.cell(code), escape.code(f"ConfigMap/ns/{HOSTILE}")):
        outside = outside.replace(span, "")
    assert re.findall(r"<[a-z/!]", outside) == ["<d", "<s", "</"]  # <details><summary>


def test_plan_truncation_closes_the_fence_it_cuts() -> None:
    diff = "".join(f"+line {i} ````\n" for i in range(2000))
    short = to_markdown(_plan(diff), limit=4000)
    assert len(short) < 4000
    lines = short.splitlines()
    assert "`````diff" in lines
    tail = lines[lines.index("`````diff") :]
    assert tail[-5:-1] == ["`````", "", "</details>", ""]
    assert tail[-1].startswith("… truncated")


def test_plan_text_keeps_names_on_one_line() -> None:
    out = to_text(_plan())
    assert f"  + ConfigMap/ns/{reporters.printable(HOSTILE)}" in out.splitlines()
    assert "# forged" not in out.splitlines()
