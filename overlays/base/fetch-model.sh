#!/bin/sh
# Fetch exactly one released model artifact (and its external data files) into a Triton model
# repository, verify every file's sha256, and lay it out as
# <MODEL_REPOSITORY>/<MODEL_NAME>/config.pbtxt, .../1/model.onnx and .../1/<external data>.
#
# Runs as the init container of the serving pod (POSIX sh, git, git-lfs, sha256sum; wget or
# curl only for MODEL_STORAGE_URI). Inputs, from the generated ConfigMaps:
#   MODEL_NAME         Triton model name (the registry's model name)
#   MODEL_VERSION      the semantic version (messages only)
#   MODEL_SHA256       sha256 of the ONNX file, from metadata.yaml
#   MODEL_REF          the release tag to fetch (e.g. model-bert-v1.1.0)
#   MODEL_PATH         the ONNX file inside the registry at MODEL_REF
#   MODEL_SOURCE_URL   the registry's git URL
#   MODEL_STORAGE_URI  optional immutable copy (https://, http://, file://): used instead of git
#   LFS_URL            optional Git LFS endpoint when it is not the one git-lfs derives
#   CONFIG_PBTXT       the Triton model configuration to install beside the model
#   MODEL_EXTERNAL_DATA  optional: the name of a file beside CONFIG_PBTXT listing the ONNX
#                      file's external data, one `<sha256>  <path>` line per file, the path
#                      relative to the ONNX file's directory (as the model references it)
#   MODEL_REPOSITORY   Triton's --model-repository directory
# Exit status: 0 laid out and verified; 1 anything else (nothing is left half-written).
set -eu

die() {
    echo "fetch-model: error: $*" >&2
    exit 1
}

for var in MODEL_NAME MODEL_VERSION MODEL_SHA256 CONFIG_PBTXT MODEL_REPOSITORY; do
    eval "value=\${$var:-}"
    [ -n "$value" ] || die "$var is not set"
done
case "$MODEL_SHA256" in
    *[!0-9a-f]*) die "MODEL_SHA256 is not a lowercase hex sha256: $MODEL_SHA256" ;;
esac
[ "${#MODEL_SHA256}" -eq 64 ] || die "MODEL_SHA256 must have 64 hex digits: $MODEL_SHA256"
[ -f "$CONFIG_PBTXT" ] || die "CONFIG_PBTXT $CONFIG_PBTXT does not exist"

# A path the layout may create: relative, plain components (no `.`, `..`, leading `-` or
# `.`), nothing a shell, git-lfs's --include list (commas, globs) or Triton would read twice.
safe_path() {
    case "$1" in
        "" | */ | *//* | *[!A-Za-z0-9._+@/-]*) return 1 ;;
    esac
    case "/$1" in
        */[!A-Za-z0-9_]*) return 1 ;;
    esac
    return 0
}
[ -z "${MODEL_PATH:-}" ] || safe_path "$MODEL_PATH" || die "MODEL_PATH is not a plain relative path: $MODEL_PATH"
case "${MODEL_PATH:-}" in
    */*) model_dir="${MODEL_PATH%/*}/" ;;
    *) model_dir="" ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/fetch-model.XXXXXX")
stage="$MODEL_REPOSITORY/.fetch-$MODEL_NAME.$$"
cleanup() { rm -rf "$work" "$stage"; }
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# External data: every file the ONNX file references is fetched and verified like the model
# itself, or nothing is served. The list is checked completely before anything is fetched.
externals="$work/external-data"
: >"$externals"
if [ -n "${MODEL_EXTERNAL_DATA:-}" ]; then
    case "$MODEL_EXTERNAL_DATA" in
        */* | .*) die "MODEL_EXTERNAL_DATA must name a file beside CONFIG_PBTXT: $MODEL_EXTERNAL_DATA" ;;
    esac
    list="$(dirname "$CONFIG_PBTXT")/$MODEL_EXTERNAL_DATA"
    [ -f "$list" ] || die "MODEL_EXTERNAL_DATA $list does not exist"
    while read -r sha path rest || [ -n "${sha:-}" ]; do
        [ -n "${sha:-}" ] || continue
        [ -z "${rest:-}" ] && [ -n "${path:-}" ] || die "$MODEL_EXTERNAL_DATA: not a '<sha256>  <path>' line: $sha $path $rest"
        case "$sha" in
            *[!0-9a-f]*) die "$MODEL_EXTERNAL_DATA: not a lowercase hex sha256 for $path: $sha" ;;
        esac
        [ "${#sha}" -eq 64 ] || die "$MODEL_EXTERNAL_DATA: sha256 of $path must have 64 hex digits"
        safe_path "$path" || die "$MODEL_EXTERNAL_DATA: not a plain relative path: $path"
        [ "$path" != model.onnx ] || die "$MODEL_EXTERNAL_DATA: external data may not be named model.onnx"
        echo "$sha $path" >>"$externals"
        sha=""
    done <"$list"
    [ -s "$externals" ] || die "MODEL_EXTERNAL_DATA $list lists no file"
    [ -z "${MODEL_STORAGE_URI:-}" ] ||
        die "MODEL_STORAGE_URI holds one file; a version with external data is fetched from git"
fi

storage_uri="${MODEL_STORAGE_URI:-}"
if [ -n "$storage_uri" ]; then
    artifact="$work/model.onnx"
    echo "fetch-model: $MODEL_NAME $MODEL_VERSION from $storage_uri" >&2
    case "$storage_uri" in
        file://*) cp "${storage_uri#file://}" "$artifact" || die "cannot read $storage_uri" ;;
        https://* | http://*)
            if command -v curl >/dev/null 2>&1; then
                curl -fsSL -o "$artifact" "$storage_uri" || die "download failed: $storage_uri"
            else
                wget -q -O "$artifact" "$storage_uri" || die "download failed: $storage_uri"
            fi
            ;;
        *) die "unsupported MODEL_STORAGE_URI scheme (use https://, http:// or file://): $storage_uri" ;;
    esac
else
    for var in MODEL_REF MODEL_PATH MODEL_SOURCE_URL; do
        eval "value=\${$var:-}"
        [ -n "$value" ] || die "$var is not set (or set MODEL_STORAGE_URI)"
    done
    echo "fetch-model: $MODEL_NAME $MODEL_VERSION: $MODEL_PATH at $MODEL_REF from $MODEL_SOURCE_URL" >&2
    # Clone the release tag only, with LFS pointers instead of objects, then pull exactly the
    # version's objects (the model and its external data): `git lfs pull --include=...`.
    git lfs install --skip-repo --skip-smudge >/dev/null
    GIT_LFS_SKIP_SMUDGE=1 git clone --quiet --depth 1 --branch "$MODEL_REF" \
        "$MODEL_SOURCE_URL" "$work/repo" || die "cannot clone $MODEL_REF from $MODEL_SOURCE_URL"
    if [ -n "${LFS_URL:-}" ]; then
        git -C "$work/repo" config lfs.url "$LFS_URL"
    fi
    [ ! -L "$work/repo/$MODEL_PATH" ] || die "$MODEL_PATH is a symbolic link at $MODEL_REF"
    [ -f "$work/repo/$MODEL_PATH" ] || die "$MODEL_PATH does not exist at $MODEL_REF"
    include="$MODEL_PATH"
    while read -r sha path; do
        include="$include,$model_dir$path"
    done <"$externals"
    git -C "$work/repo" lfs pull --include="$include" --exclude="" ||
        die "git lfs pull of $include failed"
    artifact="$work/repo/$MODEL_PATH"
    if head -c 100 "$artifact" | grep -q '^version https://git-lfs.github.com/spec/v1'; then
        die "$MODEL_PATH is still a Git LFS pointer: the LFS object is not on the server"
    fi
fi

actual=$(sha256sum "$artifact" | cut -d ' ' -f 1)
if [ "$actual" != "$MODEL_SHA256" ]; then
    die "sha256 mismatch for $MODEL_NAME $MODEL_VERSION: expected $MODEL_SHA256, got $actual; refusing to serve it"
fi
count=0
while read -r sha path; do
    file="$work/repo/$model_dir$path"
    [ ! -L "$file" ] || die "external data $path of $MODEL_NAME $MODEL_VERSION is a symbolic link at $MODEL_REF"
    [ -f "$file" ] || die "external data $path of $MODEL_NAME $MODEL_VERSION does not exist at $MODEL_REF"
    if head -c 100 "$file" | grep -q '^version https://git-lfs.github.com/spec/v1'; then
        die "external data $path is still a Git LFS pointer: the LFS object is not on the server"
    fi
    got=$(sha256sum "$file" | cut -d ' ' -f 1)
    if [ "$got" != "$sha" ]; then
        die "sha256 mismatch for $MODEL_NAME $MODEL_VERSION external data $path: expected $sha, got $got; refusing to serve it"
    fi
    count=$((count + 1))
done <"$externals"

# Assemble beside the final place, then rename: Triton never sees a half-written model.
mkdir -p "$stage/1"
cp "$artifact" "$stage/1/model.onnx"
while read -r sha path; do
    mkdir -p "$(dirname "$stage/1/$path")"
    cp "$work/repo/$model_dir$path" "$stage/1/$path"
done <"$externals"
cp "$CONFIG_PBTXT" "$stage/config.pbtxt"
rm -rf "${MODEL_REPOSITORY:?}/$MODEL_NAME"
mv "$stage" "$MODEL_REPOSITORY/$MODEL_NAME"
echo "fetch-model: $MODEL_NAME $MODEL_VERSION verified (sha256 $actual; $count external data file(s))" >&2
