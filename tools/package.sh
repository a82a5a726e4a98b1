#!/usr/bin/env bash
# Builds drfwd's Debian package with the Debian tooling (debian/, dpkg-buildpackage) and
# copies the .deb, .changes and .buildinfo to OUT_DIR (default ./dist). Idempotent:
# builds in a temporary copy of the source tree (dpkg-buildpackage writes next to the
# tree it builds), so nothing is written into this one except OUT_DIR.
#
#   tools/package.sh [OUT_DIR]                   configure and build with meson (minutes)
#   tools/package.sh --prebuilt BUILD_DIR [OUT_DIR]
#                                                package the binaries of an existing meson
#                                                build (e.g. build/ of tools/build.sh)
# Builds with every CPU (-Jauto), without the pre-clean (-nc: the copy is fresh); the
# log is shown when it fails.
# Then: apt install ./dist/drfwd_*.deb   (docs/install.md)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
prog=package.sh

usage() {
  sed -n '2,13s/^# \{0,1\}//p' "$0" >&2
  exit 2
}

prebuilt=""
out=""
while [ $# -gt 0 ]; do
  case $1 in
    --prebuilt)
      [ $# -ge 2 ] || usage
      prebuilt=$2
      shift 2
      ;;
    -h|--help) usage ;;
    -*) echo "$prog: unknown option $1" >&2; usage ;;
    *)
      [ -z "$out" ] || usage
      out=$1
      shift
      ;;
  esac
done
out=${out:-$top/dist}

for tool in dpkg-buildpackage dh dpkg-checkbuilddeps; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "$prog: $tool not found: install debhelper and dpkg-dev (tools/install-deps.sh)" >&2
    exit 1
  fi
done

if [ -n "$prebuilt" ]; then
  [ -d "$prebuilt" ] || { echo "$prog: --prebuilt $prebuilt: no such directory" >&2; exit 1; }
  prebuilt=$(cd "$prebuilt" && pwd)
  for b in drfwd drfwdctl; do
    if [ ! -x "$prebuilt/app/$b" ]; then
      echo "$prog: --prebuilt $prebuilt: no app/$b there (build it first: tools/build.sh)" >&2
      exit 1
    fi
  done
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/drfwd-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/drfwd

# The tracked files and new ones not ignored, as they are in the working tree; never
# build directories, the output directory or packaging leftovers.
mkdir "$src"
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$top" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$top" && grep -zv -e '^dist/' -e '^debian/build/' -e '^debian/drfwd/' -e '^debian/\.debhelper/' \
                          -e '^debian/files$' -e '^debian/.*\.substvars$' -e '^debian/debhelper-build-stamp$' |
     xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
     tar --null -T - -cf -) | tar -xf - -C "$src"
else
  tar -C "$top" --exclude='./build*' --exclude=./dist --exclude=./.git --exclude=./debian/build \
    -cf - . | tar -xf - -C "$src"
fi
[ -f "$src/debian/control" ] || { echo "$prog: $top/debian/control missing" >&2; exit 1; }

echo "$prog: building in $src${prebuilt:+ from $prebuilt}"
start=$SECONDS
if ! (cd "$src" && DRFWD_PREBUILT="$prebuilt" dpkg-buildpackage -b -us -uc -nc -Jauto) >"$work/build.log" 2>&1; then
  tail -n 40 "$work/build.log" >&2
  echo "$prog: dpkg-buildpackage failed (last 40 lines above)" >&2
  exit 1
fi

shopt -s nullglob
artefacts=("$work"/*.deb "$work"/*.changes "$work"/*.buildinfo)
debs=("$work"/*.deb)
if [ ${#debs[@]} -eq 0 ]; then
  echo "$prog: dpkg-buildpackage made no .deb" >&2
  exit 1
fi
cp -f "${artefacts[@]}" "$out/"
echo "$prog: done in $((SECONDS - start)) s:"
for f in "${artefacts[@]}"; do echo "  $out/$(basename "$f")"; done
