#!/usr/bin/env bash
# Prints, one per line, the packages that own the shared libraries the given ELF files load, so
# that the image's runtime stage installs exactly what the build stage linked against, on any
# Debian or Ubuntu base (package names differ between the two; the files do not).
#
# Usage: runtime-packages.sh FILE...
# Fails when a library is missing or owned by no package, except the GPU driver's libraries,
# which the container runtime mounts into a GPU container at run time.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: runtime-packages.sh FILE..." >&2
  exit 2
fi

# Libraries the NVIDIA container runtime provides at run time; absent from images by design.
driver_libraries='^(libcuda\.so\.1|libnvidia-[a-z-]+\.so\.1)$'

owner() {
  local path="$1"
  local candidates=("$path" "$(readlink -f "$path")")
  # With merged /usr, dpkg may have recorded /lib/... or /usr/lib/... for the same file.
  case "$path" in
    /usr/*) candidates+=("${path#/usr}") ;;
    /*) candidates+=("/usr$path") ;;
  esac
  local candidate line
  for candidate in "${candidates[@]}"; do
    if line=$(dpkg-query -S "$candidate" 2>/dev/null | grep -v '^diversion ' | head -n 1) &&
      [ -n "$line" ]; then
      # "libfoo1:amd64, libfoo1:i386: /usr/lib/..." -> libfoo1:amd64
      line="${line%%: /*}"
      echo "${line%%,*}"
      return 0
    fi
  done
  return 1
}

status=0
declare -A libraries=()
while read -r name arrow path _; do
  if [ "$arrow" != "=>" ]; then
    # "/lib64/ld-linux-x86-64.so.2 (0x...)" or "linux-vdso.so.1 (0x...)"
    case "$name" in
      /*) libraries["$name"]=1 ;;
    esac
  elif [ "$path" = "not" ]; then
    if [[ ! "$name" =~ $driver_libraries ]]; then
      echo "runtime-packages: $name is not found" >&2
      status=1
    fi
  else
    libraries["$path"]=1
  fi
done < <(for file in "$@"; do ldd "$file"; done)

declare -A packages=()
for path in "${!libraries[@]}"; do
  if package=$(owner "$path"); then
    packages["$package"]=1
  else
    echo "runtime-packages: no package owns $path" >&2
    status=1
  fi
done

if [ "$status" -ne 0 ]; then
  exit "$status"
fi
printf '%s\n' "${!packages[@]}" | sort
