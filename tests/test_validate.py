"""``modelreg validate``: exit codes, findings with file:line, output formats."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from conftest import Registry
from modelreg.cli import main
from modelreg.schemas import load_schema

META_10 = "models/demo/1.0.0/metadata.yaml"
META_11 = "models/demo/1.1.0/metadata.yaml"
MODEL = "models/demo/model.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def line_of(reg: Registry, rel: str, needle: str) -> int:
    for number, text in enumerate(reg.read(rel).splitlines(), start=1):
        if needle in text:
            return number
    raise AssertionError(f"{needle!r} not in {rel}")


def test_valid_registry_passes(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys)
    assert (code, out) == (0, "")
    assert "all checks passed" in err


def test_fast_passes_without_reading_bytes(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    # Same size, different bytes: only a deep run can tell.
    p = registry.path("models/demo/1.1.0/model.onnx")
    data = bytearray(p.read_bytes())
    data[5] ^= 0xFF
    p.write_bytes(bytes(data))
    assert run(capsys, "--fast")[0] == 0
    code, out, _ = run(capsys)
    assert code == 1
    assert out.startswith("models/demo/1.1.0/model.onnx: MR201 sha256 is ")


# Each case: (file to edit, old text, new text, expected file, line needle, rule).
BROKEN = {
    "missing required key": (META_11, "summary: Demo release 1.1.0.\n", "", META_11, None, "MR101"),
    "unknown key": (META_11, "summary:", "summry: x\nsummary:", META_11, "summry", "MR102"),
    "wrong type": (META_11, "samples: 50000", "samples: many", META_11, "samples: many", "MR103"),
    "bad semver": (META_11, "version: 1.1.0", "version: v1.1.0", META_11, "v1.1.0", "MR104"),
    "bad date": (META_11, "2024-01-22", "2024-13-22", META_11, "2024-13-22", "MR104"),
    "duplicate key": (META_11, "summary:", "summary: a\nsummary:", META_11, "summary: D", "MR002"),
    "1.10 unquoted": (META_11, 'version: "1.0"', "version: 1.10", META_11, "1.10", "MR003"),
    "on unquoted": (MODEL, "status: production", "status: on", MODEL, "status: on", "MR003"),
    "two production versions": (
        MODEL, "status: supported", "status: production", MODEL, "lifecycle:", "MR504",
    ),
    "directory/version mismatch": (
        META_11, "version: 1.1.0", "version: 1.2.0", META_11, "version: 1.2.0", "MR501",
    ),
    "model name mismatch": (MODEL, "name: demo", "name: other", MODEL, "name: other", "MR501"),
    "lifecycle entry without directory": (
        MODEL, "lifecycle:\n", "lifecycle:\n  2.0.0:\n    status: candidate\n", MODEL, "2.0.0:",
        "MR503",
    ),
    "supported without a date": (
        MODEL, "    supported_until: 2099-03-01\n", "", MODEL, "1.0.0:", "MR505",
    ),
    "release order": (META_11, "2024-01-22", "2024-01-01", META_11, "2024-01-01", "MR506"),
    "TODO left": (META_11, "Demo release 1.1.0.", "TODO", META_11, "summary: TODO", "MR508"),
    "bad status": (MODEL, "status: production", "status: live", MODEL, "status: live", "MR104"),
    "yaml syntax": (META_11, "summary:", "summary: [unclosed\nx:", META_11, "x:", "MR001"),
    "negative size": (META_11, "size: ", "size: -", META_11, "size: -", "MR104"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_input_gives_finding_with_file_and_line(
    case: str, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    rel, old, new, expect_file, needle, rule_id = BROKEN[case]
    registry.replace(rel, old, new)
    code, out, _ = run(capsys)
    assert code == 1, out
    expected_line = line_of(registry, expect_file, needle) if needle else 1
    pattern = re.compile(rf"^{re.escape(expect_file)}:{expected_line}(:\d+)?: {rule_id} ", re.M)
    assert pattern.search(out), out


def test_required_key_is_reported_at_the_parent_key(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.replace(META_11, "  sha256: ", "  sha257: ")
    _, out, _ = run(capsys)
    line = line_of(registry, META_11, "artifact:")
    assert f"{META_11}:{line}:1: MR101 artifact: missing required field `sha256`" in out
    assert "unknown field `sha257`; did you mean `sha256`?" in out


def test_coercion_replaces_the_type_error(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.replace(META_11, 'version: "1.0"', "version: 1.10")
    _, out, _ = run(capsys)
    assert "MR103" not in out
    assert "training.dataset.version: `1.10` is read by YAML as the number 1.1; quote" in out


def test_unquoted_date_in_a_date_field_is_fine_but_not_in_a_text_field(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.replace(META_11, "summary: Demo release 1.1.0.", "summary: 2024-01-22")
    code, out, _ = run(capsys)
    assert code == 1
    assert out.count("MR003") == 1
    assert "summary: `2024-01-22` is read as a date" in out


def test_version_not_in_lifecycle(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    registry.replace(MODEL, "  1.0.0:\n    status: supported\n    supported_until: 2099-03-01\n"
                     "    note: Legacy support\n", "")  # fmt: skip
    code, out, _ = run(capsys)
    assert code == 1
    assert f"{META_10}: MR502 1.0.0 is not in the lifecycle" in out


def test_version_directory_without_metadata(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.path(META_10).unlink()
    code, out, _ = run(capsys)
    assert code == 1
    assert f"{META_10}: MR507 " in out


def test_stray_entries_warn_but_pass(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.write("models/demo/latest/notes.txt", "x")
    registry.write("models/notes.txt", "x")
    code, out, _ = run(capsys)
    assert code == 0
    assert "models/demo/latest: MR509 (warning) unexpected directory" in out
    assert "models/notes.txt: MR509 (warning)" in out


def test_artifact_checks(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    art = registry.path("models/demo/1.0.0/model.onnx")
    size = len(art.read_bytes())
    art.write_bytes(art.read_bytes() + b"x")
    code, out, _ = run(capsys, "--fast")
    assert code == 1
    assert f"models/demo/1.0.0/model.onnx: MR202 size is {size + 1} bytes" in out
    art.unlink()
    _, out, _ = run(capsys)
    assert "models/demo/1.0.0/model.onnx: MR203 artifact named in" in out


def test_artifact_symlink_is_refused(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    art = registry.path("models/demo/1.0.0/model.onnx")
    real = registry.path("elsewhere.onnx")
    real.write_bytes(art.read_bytes())
    art.unlink()
    art.symlink_to(real)
    for argv in ((), ("--fast",)):
        code, out, _ = run(capsys, *argv)
        assert code == 1
        # One finding, on the link itself; the file behind it is never opened.
        assert out == (
            f"models/demo/1.0.0/model.onnx: MR006 models/demo/1.0.0/model.onnx is a symlink "
            f"(to {real}) — modelreg never follows symlinks in a registry: commit the file "
            "itself\n"
        )


def lfs_pointer(sha: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {size}\n".encode()


def test_lfs_pointers(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    import hashlib

    art = registry.path("models/demo/1.1.0/model.onnx")
    data = art.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    art.write_bytes(lfs_pointer(sha, len(data)))
    assert run(capsys, "--fast")[0] == 0
    code, out, _ = run(capsys)
    assert code == 1
    assert (
        "MR204 is a Git LFS pointer: the object is not pulled, so its bytes were not checked; "
        'run: git lfs pull --include="models/demo/1.1.0/model.onnx"'
    ) in out
    art.write_bytes(lfs_pointer("f" * 64, len(data)))
    code, out, _ = run(capsys, "--fast")
    assert code == 1
    assert "MR201 LFS pointer oid is sha256:ffff" in out
    art.write_bytes(b"version https://git-lfs.github.com/spec/v1\noid md5:abc\nsize 1\n")
    code, out, _ = run(capsys, "--fast")
    assert "MR205 malformed Git LFS pointer" in out


def test_paths_select_versions(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    registry.replace(META_10, "summary:", "summry: x\nsummary:")
    code, out, err = run(capsys, META_11)
    assert (code, out) == (0, "")
    assert "1 version: all checks passed" in err
    code, out, _ = run(capsys, META_10)
    assert code == 1 and "MR102" in out
    # model.yaml alone selects only the model's own rules, not its versions.
    code, out, err = run(capsys, MODEL)
    assert (code, out) == (0, "")
    code, out, _ = run(capsys, "models/demo")
    assert code == 1
    # Files outside models/ select nothing; selecting nothing at all is a usage error.
    registry.write("README.md", "hi")
    code, out, err = run(capsys, "README.md")
    assert (code, out) == (2, "")
    assert err.startswith("modelreg: error: nothing to validate: README.md is no model, ")
    assert err.count("\n") == 1
    assert run(capsys, "README.md", META_11)[0] == 0  # a hook's mixed list is fine


def test_select_and_ignore(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    registry.replace(META_11, "summary:", "summry: x\nsummary:")
    registry.replace(MODEL, "status: supported", "status: production")
    _, out, _ = run(capsys, "--select", "MR5")
    assert "MR504" in out and "MR102" not in out
    _, out, _ = run(capsys, "--ignore", "mr102,MR504")
    assert out == ""
    assert run(capsys, "--select", "MR1", "--ignore", "MR102")[0] == 0


def test_json_output_matches_report_schema(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.replace(META_11, "summary:", "summry: x\nsummary:")
    registry.replace(MODEL, "    supported_until: 2099-03-01\n", "")
    code, out, _ = run(capsys, "--output", "json")
    report = json.loads(out)
    Draft202012Validator(load_schema("report")).validate(report)
    assert code == 1 and report["status"] == "fail"
    assert [(f["rule"], f["path"]) for f in report["findings"]] == [
        ("MR102", META_11),
        ("MR505", MODEL),
    ]
    _, out, _ = run(capsys, "--output", "json", "--ignore", "MR")
    assert json.loads(out) == {"version": 1, "status": "pass", "findings": []}


GITHUB_COMMAND = re.compile(
    r"^::(error|warning) file=[^,:\n]+(,line=\d+)?(,col=\d+)?,title=[^,:\n]+::[^\r\n]*$"
)


def test_github_output_is_well_formed(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.replace(META_11, "summary:", "summry: x\nsummary:")
    registry.write("models/demo/odd,name:x/f", "x")
    code, out, _ = run(capsys, "--output", "github")
    lines = out.splitlines()
    assert code == 1 and len(lines) == 2
    for line in lines:
        assert GITHUB_COMMAND.match(line), line
    assert lines[0].startswith(
        f"::error file={META_11},line={line_of(registry, META_11, 'summry')},col=1,"
        "title=MR102 schema-unknown-key::"
    )
    assert lines[1].startswith("::warning file=models/demo/odd%2Cname%3Ax,title=MR509 ")


def test_github_escapes_messages() -> None:
    from modelreg.findings import Finding, Severity
    from modelreg.reporters import format_github

    f = Finding("a,b:c.yaml", 3, None, "MR001", Severity.ERROR, "50% bad\nnext line")
    assert format_github(f) == (
        "::error file=a%2Cb%3Ac.yaml,line=3,title=MR001 yaml-syntax::50%25 bad%0Anext line"
    )


@pytest.mark.parametrize(
    "argv",
    [["validate", "no/such/path"], ["validate", "--output", "xml"], ["validate", "--bogus"], []],
)
def test_usage_errors_exit_2(
    registry: Registry, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err


def test_no_registry_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("modelreg: error: no registry found at or above")
    assert "modelreg init" in err


def test_path_outside_the_registry(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "other.yaml"
    outside.write_text("x: 1\n")
    assert main(["validate", str(outside), "--root", str(registry.root)]) == 2
    assert "is outside the registry" in capsys.readouterr().err


def test_a_crashing_check_is_a_finding(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelreg.checks import integrity

    def boom(*_args: object) -> tuple[str, int]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(integrity, "sha256_stream", boom)
    code, out, _ = run(capsys)
    assert code == 1
    assert "MR901 check `artifact_integrity` crashed (RuntimeError: disk on fire)" in out


def test_unexpected_error_exits_3_without_traceback(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelreg.commands import validate

    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(validate, "discover", boom)
    assert main(["validate"]) == 3
    _, err = capsys.readouterr()
    assert "unexpected error: RuntimeError: bug" in err and "Traceback" not in err


def test_one_of_reports_the_intended_alternative(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.replace(META_11, "tensor: int64", "tensor: int65")
    code, out, _ = run(capsys)
    assert code == 1
    line = line_of(registry, META_11, "int65")
    assert out.splitlines() == [
        f'{META_11}:{line}:17: MR104 onnx.inputs[0].type.tensor: "int65" is not one of: '
        "float, uint8, int8, uint16, int16, int32, int64, string, bool, float16, double, "
        "uint32, uint64, complex64, complex128, bfloat16, float8e4m3fn, float8e4m3fnuz, "
        "float8e5m2, float8e5m2fnuz, uint4, int4, float4e2m1; did you mean `int64`?"
    ]


def test_python_dash_m(registry: Registry) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "modelreg", "validate", "--fast"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "all checks passed" in proc.stderr
