"""modelreg: a Git-native model registry toolkit.

Every fact about a model version is a reviewed file, every release a git tag, every deploy a
merge to main. modelreg proves that each ONNX file is what its metadata says.
"""

from __future__ import annotations

__version__ = "0.1.0"
