"""Bounded resources, no silent passes (issue #17, point 8), attacked from a pull request.

Each case is built the way a PR author would build it, committed on the ``pr`` branch, and
run as CI runs it (``python -m modelreg`` in a subprocess); the guard proves that ``.git/``
and the files beside the repository stayed byte-identical.
"""

from __future__ import annotations

import json

from attack_support import PullRequest

MODEL_YAML = "models/bert-classifier/model.yaml"
META = "models/bert-classifier/1.1.0/metadata.yaml"

#: One value per pattern-bearing field (``file``, ``old line``, ``new line``): each new
#: value is the old one with a trailing newline, written as a quoted YAML string.
NEWLINE_CASES = (
    (MODEL_YAML, "name: bert-classifier\n", 'name: "bert-classifier\\n"\n'),
    (MODEL_YAML, "tag_prefix: model-bert\n", 'tag_prefix: "model-bert\\n"\n'),
    (MODEL_YAML, '  - "@modelreg/ml-platform"\n', '  - "@modelreg/ml-platform\\n"\n'),
    (MODEL_YAML, "  1.1.0:\n", '  "1.1.0\\n":\n'),
    (MODEL_YAML, "    supported_until: 2024-03-01\n", '    supported_until: "2024-03-01\\n"\n'),
    (META, "model: bert-classifier\n", 'model: "bert-classifier\\n"\n'),
    (META, "version: 1.1.0\n", 'version: "1.1.0\\n"\n'),
    (META, "release_date: '2024-01-22'\n", 'release_date: "2024-01-22\\n"\n'),
    (META, "  path: model.onnx\n", '  path: "model.onnx\\n"\n'),
    (
        META,
        "  sha256: 37afd3b521dc017a7dc67aa8a4482b4c3d1388539606bf55a4d27cc2a7072505\n",
        '  sha256: "37afd3b521dc017a7dc67aa8a4482b4c3d1388539606bf55a4d27cc2a7072505\\n"\n',
    ),
    (META, "    ai.onnx: 18\n", '    "ai.onnx\\n": 18\n'),
    (
        META,
        "        tensor: float\n        shape: [batch, 2]\n",
        '        tensor: float\n        shape: ["batch\\n", 2]\n',
    ),
    (
        META,
        "    sha256: 87868aca0f854650e037bd0fffa30ae828bb1dc010212caef6ede226f58918fc\n",
        '    sha256: "87868aca0f854650e037bd0fffa30ae828bb1dc010212caef6ede226f58918fc\\n"\n',
    ),
    (META, "  - path: test_data_set_0\n", '  - path: "test_data_set_0\\n"\n'),
    (
        META,
        "    samples: 9000\n",
        '    samples: 9000\n    sha256: "' + "ab" * 32 + '\\n"\n',
    ),
    (
        META,
        "    rtol: 0.0001\n    atol: 1.0e-05\n",
        "    rtol: 0.0001\n    atol: 1.0e-05\ndeployment:\n"
        '  config: "triton.pbtxt\\n"\n  resources:\n    limits:\n      cpu: "2\\n"\n',
    ),
)


def _line_of(text: str, needle: str) -> int:
    """1-based line where ``needle`` starts (the line that carries the new value)."""
    start = text.index(needle)
    offset = next(i for i, ch in enumerate(needle) if ch == "\\") if "\\n" in needle else 0
    return text.count("\n", 0, start + offset) + 1


def test_no_pattern_accepts_a_trailing_newline(pr: PullRequest) -> None:
    # Python's `$` matches before a final "\n": `^[0-9a-f]{64}$` accepted "<sha>\n", a name
    # "bert-classifier\n" and a path "model.onnx\n" passed the schema (and flowed on into
    # object names, paths and generated files).
    expected: set[tuple[str, int]] = set()
    for path, old, new in NEWLINE_CASES:
        pr.replace(path, old, new)
    for path, _old, new in NEWLINE_CASES:
        text = pr.path(path).read_text(encoding="utf-8")
        line = _line_of(text, new)
        expected.add((path, line))
    pr.commit("values end in a newline")
    pr.snapshot()
    result = pr.run("validate", "--fast", "--output", "json")
    pr.assert_untouched(str(result))
    assert result.code == 1, str(result)
    schema_lines = {
        (f["path"], f["line"])
        for f in json.loads(result.out)["findings"]
        if f["rule"].startswith("MR1")
    }
    assert sorted(expected - schema_lines) == [], str(result)
