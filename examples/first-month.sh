#!/usr/bin/env bash
# A team's first month with modelreg, as commands you can read and run: a new registry, its
# hooks, a scikit-learn model added, promoted to staging and production, released, a second
# version promoted, and a rollback. Every commit passes the registry's pre-commit hooks.
#
#   examples/first-month.sh [DIR]     # works in DIR (default: a new temporary directory)
#
# Needs git, git-lfs, and modelreg[onnx,gitops] with pre-commit, scikit-learn and skl2onnx in
# the Python on PATH, and a git identity (user.name, user.email).
#
# Here every step commits straight to main so the script runs alone. In a team each step is a
# branch and a pull request, and CI runs the registry's .github/workflows/pr.yml on it (the
# hooks again, validate, the promotion gate, the deployment plan) and release.yml on main
# (`modelreg release --push`): see docs/ci.md. tests/test_first_month.py runs this journey
# that way, pull requests and all.
set -euo pipefail

work="${1:-$(mktemp -d)}"
mkdir -p "$work"
cd "$work"

# -- 0. The model: two versions of a classifier, and its evaluation data -------------------
# skl2onnx without ZipMap (`zipmap: False`): the class probabilities are a plain tensor
# output, `probabilities`, that modelreg scores. The evaluation file holds one array per
# model input, named like the input (`X`), plus the true classes in `labels`.
python - <<'PY'
import numpy as np
from skl2onnx import to_onnx
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

X, y = make_classification(n_samples=600, n_features=4, n_informative=4, n_redundant=0,
                           class_sep=1.5, random_state=0)
X = X.astype(np.float32)
for version, c in (("1.0.0", 0.001), ("1.1.0", 1.0)):
    clf = LogisticRegression(C=c, random_state=0).fit(X[:400], y[:400])
    onx = to_onnx(clf, X[:1], options={id(clf): {"zipmap": False}}, target_opset=18)
    with open(f"tickets-{version}.onnx", "wb") as fh:
        fh.write(onx.SerializeToString())
np.savez("eval.npz", X=X[400:], labels=y[400:].astype(np.int64))
PY

# -- 1. A new registry, with its hooks ------------------------------------------------------
modelreg init registry --repo-url https://github.com/acme/registry.git
cd registry
git lfs install --local # *.onnx and *.npz are stored in Git LFS (.gitattributes)
pre-commit install      # the modelreg hooks run on every commit and push
git add -A
git commit -q -m "modelreg init"

# -- 2. Week 1: the first version -----------------------------------------------------------
# A new model: add writes its card from the flags, measures accuracy, F1 and latency, writes
# golden vectors, the version's overlay and the pages. The version is a `candidate`.
modelreg add tickets 1.0.0 --onnx ../tickets-1.0.0.onnx --eval ../eval.npz \
  --output-name probabilities \
  --title "Ticket Router" --description "Routes support tickets." \
  --task tabular-classification --owner @acme/ml --labels billing,technical \
  --dataset-name tickets --dataset-version 1 --dataset-samples 400 \
  --summary "First version." --change "Initial release" --runs 100
git add -A
git commit -q -m "Add tickets 1.0.0" # the hooks check the new version

# -- 3. Week 2: staging, then production ----------------------------------------------------
# Each promotion is one commit (through the hooks): lifecycle, environment overlay, pages.
# Production runs the promotion gates first; there is no production version to compare yet.
modelreg promote tickets 1.0.0 --env staging --commit
modelreg promote tickets 1.0.0 --env production --commit --runs 100

# -- 4. The release: an annotated tag per merged version (CI does this on main) --------------
modelreg release
git tag --list

# -- 5. Week 3: the next version ------------------------------------------------------------
# --from takes the data set, evaluation file, scored output and F1 averaging from 1.0.0.
modelreg add tickets 1.1.0 --onnx ../tickets-1.1.0.onnx --from 1.0.0 \
  --summary "Less regularisation." --change "C=1.0" --migration "Drop-in" --runs 100
git add -A
git commit -q -m "Add tickets 1.1.0"
# Gated against production 1.0.0: no accuracy or F1 drop over 0.5 points (the card's gates).
modelreg promote tickets 1.1.0 --env production --commit --runs 100
modelreg release

# -- 6. Week 4: roll back -------------------------------------------------------------------
# Reverts the last production promotion in one commit: 1.0.0 is production again.
modelreg rollback tickets --env production -n
modelreg rollback tickets --env production

# -- The registry is what its hooks and CI want --------------------------------------------
modelreg validate --fast
modelreg render --check
modelreg overlays --check
test -z "$(git status --porcelain)"
git log --oneline
echo "first month done: $work/registry"
