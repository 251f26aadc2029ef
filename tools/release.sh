#!/usr/bin/env bash
# tools/release.sh builds callbackd's release binaries: static (CGO off),
# -trimpath, the version and commit stamped with -ldflags -X, one pair
# (callbackd, callbackctl) per platform, and SHA256SUMS over them. The
# Dockerfile builds its binary with this script and .ci/run runs it, so the
# recipe in README.md ("Releasing") cannot rot.
#
#   tools/release.sh [-o DIR] [GOOS/GOARCH ...]
#
# DIR defaults to dist/; platforms to linux/amd64 linux/arm64 darwin/arm64.
# VERSION defaults to `git describe --tags --always --dirty`, COMMIT to
# `git rev-parse HEAD` (with -dirty for a modified tree); set both where there
# is no git (a container build context).
set -euo pipefail
cd "$(dirname "$0")/.."

out=dist
if [ "${1:-}" = "-o" ]; then out="$2"; shift 2; fi
platforms=("$@")
if [ ${#platforms[@]} -eq 0 ]; then platforms=(linux/amd64 linux/arm64 darwin/arm64); fi

if [ -z "${VERSION:-}" ]; then VERSION="$(git describe --tags --always --dirty)"; fi
if [ -z "${COMMIT:-}" ]; then
  COMMIT="$(git rev-parse HEAD)"
  if [ -n "$(git status --porcelain --untracked-files=no)" ]; then COMMIT="$COMMIT-dirty"; fi
fi

pkg=github.com/callbackd/callbackd/internal/buildinfo
# -s -w drop the symbol table and DWARF (smaller binaries; panics still print
# stack traces). -buildvcs=false: the stamp is what -X sets, the same with or
# without a .git directory in the build context.
ldflags="-s -w -X $pkg.version=$VERSION -X $pkg.commit=$COMMIT"

mkdir -p "$out"
names=()
for p in "${platforms[@]}"; do
  os="${p%/*}" arch="${p#*/}"
  for cmd in callbackd callbackctl; do
    name="$cmd-$os-$arch"
    CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$out/$name" "./cmd/$cmd"
    names+=("$name")
  done
done
(cd "$out" && sha256sum "${names[@]}" > SHA256SUMS)
echo "built ${names[*]} ($VERSION, commit $COMMIT) in $out; checksums in $out/SHA256SUMS"
