# shellcheck shell=bash
# Shared set-up functions for scripts/setup, scripts/test, scripts/demo and .ci/run.
#
# Source it:   . "$(dirname "$0")/lib.sh"
# Then call:   sd_ensure_all         (everything scripts/setup does), or the parts:
#              sd_ensure_apt_packages, sd_ensure_venv, sd_ensure_collections,
#              sd_ensure_get_pip, sd_ensure_images, and sd_env (exports the
#              environment every tool here needs: PATH, collections, podman, locale).
#
# Every function is idempotent and quick when its work is already done.
# Functions print what they do on stderr and stop the script with a clear
# message (sd_die) when something cannot be done.

SD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SD_VENV=${SD_VENV:-$SD_ROOT/.venv}
SD_CACHE=$SD_ROOT/.cache
SD_COLLECTIONS_ROOT=$SD_CACHE/collections
SD_CONTAINERS_CONF=$SD_ROOT/molecule/images/containers.conf
# Caches that outlive a checkout (the unit tests' virtualenvs are there too).
SD_TEST_CACHE=$HOME/.cache/simpledeploy-tests
SD_WHEELHOUSE_DIR=$SD_TEST_CACHE/wheelhouse

# The full "ansible" package on PyPI carries the collections the tests use;
# Galaxy is not reachable, so they are unzipped from its wheel.
SD_ANSIBLE_WHEEL_VERSION=14.5.0
SD_COLLECTIONS=(
  containers.podman
  community.general
  community.library_inventory_filtering_v1
  ansible.posix
  community.postgresql
)

SD_BASE_IMAGE=localhost/simpledeploy-base:bookworm
SD_HOST_IMAGE=localhost/simpledeploy-host:bookworm
SD_HOST_IMAGE_DIR=$SD_ROOT/molecule/images/host
SD_PG_IMAGE=localhost/simpledeploy-postgresql:bookworm
SD_PG_IMAGE_DIR=$SD_ROOT/molecule/images/postgresql
SD_IMAGE_HASH_LABEL=io.simpledeploy.context-hash
SD_DEBIAN_SUITE=bookworm
SD_DEBIAN_MIRROR=${SD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SD_HOST_CA_BUNDLE=${SD_HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

# Debian/Ubuntu packages the tooling needs on the controller.
SD_APT_PACKAGES=(
  podman runc debootstrap debian-archive-keyring unzip git ca-certificates curl iptables
  shellcheck
)

sd_log() { printf '>>> %s\n' "$*" >&2; }
sd_warn() { printf 'WARNING: %s\n' "$*" >&2; }
sd_die() {
  printf '\nERROR: %s\n' "$*" >&2
  exit 1
}

# Run a noisy command with its output in a log file; show the tail on failure.
sd_quiet() {
  local log rc
  log=$(mktemp "${TMPDIR:-/tmp}/simpledeploy-XXXXXX.log")
  if "$@" >"$log" 2>&1; then
    rm -f "$log"
    return 0
  else
    rc=$?
    printf '\n--- last lines of: %s (full log: %s)\n' "$*" "$log" >&2
    tail -n 40 "$log" >&2
    return "$rc"
  fi
}

sd_is_root() { [ "$(id -u)" -eq 0 ]; }

# ---------------------------------------------------------------- apt packages

sd_missing_apt_packages() {
  local pkg missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  printf '%s\n' "${missing[@]}"
}

# sd_ensure_apt_packages [PKG...]  (default: SD_APT_PACKAGES)
sd_ensure_apt_packages() {
  local pkgs=("$@") missing
  [ ${#pkgs[@]} -gt 0 ] || pkgs=("${SD_APT_PACKAGES[@]}")
  command -v dpkg-query >/dev/null ||
    sd_die "this is not a Debian/Ubuntu system (no dpkg-query); install by hand: ${pkgs[*]}"
  mapfile -t missing < <(sd_missing_apt_packages "${pkgs[@]}")
  [ ${#missing[@]} -gt 0 ] && [ -n "${missing[0]}" ] || return 0
  sd_is_root ||
    sd_die "missing packages: ${missing[*]}. Run as root, or: sudo apt-get install -y ${missing[*]}"
  sd_log "apt-get install ${missing[*]}"
  sd_quiet env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
    sd_die "apt-get update failed (is a Debian/Ubuntu archive reachable?)"
  sd_quiet env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" ||
    sd_die "apt-get install ${missing[*]} failed"
}

# ---------------------------------------------------------------- python + venv

# Prints "MAJOR MINOR" for a Python interpreter, or fails.
sd_python_version() {
  "$1" -c 'import sys; print(sys.version_info[0], sys.version_info[1])' 2>/dev/null
}

sd_python_ok() { # PYTHON -> 0 when it is Python >= 3.12
  local v major minor
  v=$(sd_python_version "$1") || return 1
  read -r major minor <<<"$v"
  [ "$major" -eq 3 ] && [ "$minor" -ge 12 ]
}

# Find a Python >= 3.12 for the controller venv. Prints its path.
# Order: $SD_PYTHON, python3.12, python3.13, python3.14, python3 on PATH, then pyenv.
sd_find_python() {
  local c v
  if [ -n "${SD_PYTHON:-}" ]; then
    sd_python_ok "$SD_PYTHON" || sd_die "SD_PYTHON=$SD_PYTHON is not a working Python >= 3.12"
    printf '%s\n' "$SD_PYTHON"
    return 0
  fi
  for c in python3.12 python3.13 python3.14 python3; do
    # pyenv shims exist on PATH but refuse to run versions that are not selected:
    # sd_python_ok runs the candidate, so such a shim is skipped.
    if command -v "$c" >/dev/null 2>&1 && sd_python_ok "$c"; then
      "$c" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.(12|13|14)\.[0-9]+$' | sort -t. -k2,2n -k3,3nr); do
      c=$(pyenv prefix "$v" 2>/dev/null)/bin/python
      if [ -x "$c" ] && sd_python_ok "$c"; then
        printf '%s\n' "$c"
        return 0
      fi
    done
  fi
  for c in "$HOME"/.pyenv/versions/3.1[234].*/bin/python /usr/local/bin/python3.1[234]; do
    if [ -x "$c" ] && sd_python_ok "$c"; then
      printf '%s\n' "$c"
      return 0
    fi
  done
  return 1
}

sd_file_hash() { cat "$@" | sha256sum | cut -c1-64; }

# .venv with the pinned tools of requirements-dev.txt (skipped when the pins
# have not changed since the last install).
sd_ensure_venv() {
  local req=$SD_ROOT/requirements-dev.txt stamp=$SD_VENV/.simpledeploy-requirements
  local want py
  want=$(sd_file_hash "$req")
  if [ -x "$SD_VENV/bin/python" ] && sd_python_ok "$SD_VENV/bin/python" &&
    [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  if ! [ -x "$SD_VENV/bin/python" ] || ! sd_python_ok "$SD_VENV/bin/python"; then
    py=$(sd_find_python) || sd_die "no Python >= 3.12 found (ansible-core 2.21 needs it on the controller).
  Tried: \$SD_PYTHON, python3.12, python3.13, python3.14, python3 on PATH, pyenv versions.
  Install one (Ubuntu 24.04: apt-get install python3 python3-venv; Debian 12: pyenv install 3.12)
  or point SD_PYTHON at one."
    sd_log "creating $SD_VENV with $py ($("$py" --version 2>&1))"
    rm -rf "$SD_VENV"
    if ! "$py" -m venv "$SD_VENV" 2>/dev/null; then
      rm -rf "$SD_VENV"
      if sd_is_root && [ "${py#/usr/bin/}" != "$py" ]; then
        sd_ensure_apt_packages python3-venv "$(basename "$py")-venv"
        "$py" -m venv "$SD_VENV" || sd_die "$py -m venv failed"
      else
        sd_die "$py cannot create a virtualenv (Debian/Ubuntu: apt-get install python3-venv)"
      fi
    fi
  fi
  sd_log "installing pinned tools from requirements-dev.txt into $SD_VENV"
  sd_quiet "$SD_VENV/bin/python" -m pip install --disable-pip-version-check -r "$req" ||
    sd_die "pip install -r requirements-dev.txt failed (is PyPI reachable?)"
  printf '%s\n' "$want" >"$stamp"
}

# ---------------------------------------------------------------- collections

# .cache/collections/ansible_collections/{containers/podman,...} from the
# PyPI "ansible" wheel, plus this collection as simpledeploy/django (symlink).
sd_ensure_collections() {
  local root=$SD_COLLECTIONS_ROOT/ansible_collections stamp=$SD_COLLECTIONS_ROOT/.simpledeploy-stamp
  local want="ansible==$SD_ANSIBLE_WHEEL_VERSION ${SD_COLLECTIONS[*]}"
  local dl tmp c paths=()
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    [ -x "$SD_VENV/bin/pip" ] || sd_die "no $SD_VENV yet: run scripts/setup"
    command -v unzip >/dev/null || sd_die "unzip is missing: apt-get install unzip"
    dl=$(mktemp -d "${TMPDIR:-/tmp}/simpledeploy-wheel-XXXXXX")
    sd_log "downloading ansible==$SD_ANSIBLE_WHEEL_VERSION wheel for: ${SD_COLLECTIONS[*]}"
    sd_quiet "$SD_VENV/bin/pip" download --disable-pip-version-check --no-deps \
      "ansible==$SD_ANSIBLE_WHEEL_VERSION" -d "$dl" ||
      sd_die "pip download ansible==$SD_ANSIBLE_WHEEL_VERSION failed (is PyPI reachable?)"
    for c in "${SD_COLLECTIONS[@]}"; do paths+=("ansible_collections/${c/.//}/*"); done
    tmp=$SD_COLLECTIONS_ROOT.new
    rm -rf "$tmp"
    mkdir -p "$tmp"
    sd_quiet unzip -q "$dl"/ansible-*.whl "${paths[@]}" -d "$tmp" || sd_die "unzip of the ansible wheel failed"
    rm -rf "$dl"
    for c in "${SD_COLLECTIONS[@]}"; do
      [ -f "$tmp/ansible_collections/${c/.//}/MANIFEST.json" ] || sd_die "collection $c not in the ansible wheel"
    done
    rm -rf "$SD_COLLECTIONS_ROOT"
    mv "$tmp" "$SD_COLLECTIONS_ROOT"
    printf '%s\n' "$want" >"$stamp"
  fi
  # This collection, visible to ansible-playbook and molecule by its name.
  mkdir -p "$root/simpledeploy"
  if [ "$(readlink "$root/simpledeploy/django" 2>/dev/null)" != "../../../.." ]; then
    rm -rf "$root/simpledeploy/django"
    ln -s ../../../.. "$root/simpledeploy/django"
  fi
}

# ---------------------------------------------------------------- ansible-test

# ansible-test bootstraps pip in its venvs with a script it downloads from a
# host that is not reachable here; put the stand-in (ensurepip + pip install)
# where ansible-test looks for its cached copy.
sd_get_pip_version() {
  "$SD_VENV/bin/python" - <<'EOF'
import re, pathlib, ansible_test
src = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
print(re.search(r"pip='([0-9.]+)'", src.read_text()).group(1))
EOF
}

sd_ensure_get_pip() {
  local ver dest
  ver=$(sd_get_pip_version) || sd_die "cannot read ansible-test's pip version (is $SD_VENV complete?)"
  dest=$HOME/.ansible/test/cache/get_pip_${ver//./_}.py
  if ! cmp -s "$SD_ROOT/scripts/get_pip.py" "$dest"; then
    mkdir -p "$(dirname "$dest")"
    cp "$SD_ROOT/scripts/get_pip.py" "$dest"
    sd_log "installed the get-pip stand-in as $dest"
  fi
}

# A directory of python3.X links to real interpreters, for the sanity tests
# that run once per Python version (compile, import). pyenv's shims refuse to
# run a version that is not selected, so ansible-test could not use them.
# Prints the directory; the versions found are its python3.* entries.
SD_TARGET_PYTHONS=(3.9 3.10 3.11 3.12 3.13 3.14)
sd_python_bin_dir() {
  local dir=$SD_CACHE/python-bin v c found
  rm -rf "$dir"
  mkdir -p "$dir"
  for v in "${SD_TARGET_PYTHONS[@]}"; do
    found=
    if command -v "python$v" >/dev/null 2>&1 && "python$v" -c '' >/dev/null 2>&1; then
      found=$("python$v" -c 'import sys; print(sys.executable)')
    elif command -v pyenv >/dev/null 2>&1; then
      c=$(pyenv versions --bare 2>/dev/null | grep -E "^${v//./\\.}\.[0-9]+$" | sort -t. -k3,3nr | head -n 1)
      [ -z "$c" ] || found=$(pyenv prefix "$c")/bin/python$v
    fi
    if [ -n "$found" ] && [ -x "$found" ]; then ln -s "$found" "$dir/python$v"; fi
  done
  printf '%s\n' "$dir"
}

# Copy the working tree (tracked + untracked files that are not ignored) to
# build/ansible_collections/simpledeploy/django, where ansible-test wants it
# (a real copy: it refuses symlinked collection roots). Files gone from the
# tree are removed from the copy; tests/output/ (ansible-test's) is kept.
# The copy gets a .git of its own (never committed to): ansible-test asks git
# for the file list, and would otherwise find this repo's .git, where build/
# is ignored, and see no files at all. Prints the copy's path.
# SD_BUILD_ROOT puts the copy under another directory than build/ (two
# ansible-test runs at once each need their own: a sync rewrites every file).
sd_sync_build_copy() {
  local dest=${SD_BUILD_ROOT:-$SD_ROOT/build}/ansible_collections/simpledeploy/django src_list dest_list
  command -v git >/dev/null || sd_die "git is missing: apt-get install git"
  git -C "$SD_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
    sd_die "$SD_ROOT is not a git work tree (the copy for ansible-test is made from git's file list)"
  mkdir -p "$dest"
  src_list=$(mktemp) dest_list=$(mktemp)
  (cd "$SD_ROOT" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi; done |
    sort -zu) >"$src_list"
  (cd "$dest" && find . \( -path ./tests/output -o -path ./.git \) -prune -o \( -type f -o -type l \) -printf '%P\0' | sort -z) >"$dest_list"
  comm -z -23 "$dest_list" "$src_list" | (cd "$dest" && xargs -0 -r rm -f --)
  (cd "$SD_ROOT" && tar --null -T "$src_list" -cf -) | (cd "$dest" && tar -xf -)
  find "$dest" -mindepth 1 \( -path "$dest/tests/output" -o -path "$dest/.git" \) -prune -o -type d -empty -delete 2>/dev/null || true
  [ -d "$dest/.git" ] || git -C "$dest" init -q
  rm -f "$src_list" "$dest_list"
  printf '%s\n' "$dest"
}

# ---------------------------------------------------------------- podman + images

sd_podman_env() {
  export CONTAINERS_CONF=$SD_CONTAINERS_CONF
}

sd_image_label() { # IMAGE LABEL
  podman image inspect --format "{{ index .Labels \"$2\" }}" "$1" 2>/dev/null
}

# Debian bookworm rootfs from debootstrap, imported as SD_BASE_IMAGE (~1 min once).
sd_ensure_base_image() {
  local rootfs
  sd_check_podman
  podman image exists "$SD_BASE_IMAGE" && return 0
  sd_is_root || sd_die "building $SD_BASE_IMAGE needs root (debootstrap, rootful podman)"
  command -v debootstrap >/dev/null || sd_die "debootstrap is missing: apt-get install debootstrap"
  rootfs=$(mktemp -d /var/tmp/simpledeploy-rootfs-XXXXXX)
  sd_log "debootstrap $SD_DEBIAN_SUITE from $SD_DEBIAN_MIRROR (about a minute, once)"
  if ! sd_quiet debootstrap --variant=minbase \
    --include=python3,systemd,systemd-sysv,iproute2,sudo \
    "$SD_DEBIAN_SUITE" "$rootfs" "$SD_DEBIAN_MIRROR"; then
    rm -rf "$rootfs"
    sd_die "debootstrap failed (is $SD_DEBIAN_MIRROR reachable? set SD_DEBIAN_MIRROR to another mirror)"
  fi
  rm -f "$rootfs"/var/cache/apt/archives/*.deb "$rootfs/etc/hostname"
  : >"$rootfs/etc/machine-id"
  tar -C "$rootfs" -c . | sd_quiet podman import \
    --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' - "$SD_BASE_IMAGE" ||
    sd_die "podman import of the rootfs failed"
  rm -rf "$rootfs"
}

# The hash a host image is built from: its Containerfile and context files,
# the CA bundle copied in, and the base image it starts from.
sd_host_image_hash() {
  {
    (cd "$SD_HOST_IMAGE_DIR" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
    sha256sum <"$SD_HOST_CA_BUNDLE"
    podman image inspect --format '{{.Id}}' "$SD_BASE_IMAGE"
  } | sha256sum | cut -c1-16
}

# SD_HOST_IMAGE from molecule/images/host/Containerfile; rebuilt when its hash changes.
sd_ensure_host_image() {
  local want have old ctx
  sd_check_podman
  [ -r "$SD_HOST_CA_BUNDLE" ] || sd_die "no CA bundle at $SD_HOST_CA_BUNDLE (apt-get install ca-certificates)"
  want=$(sd_host_image_hash)
  have=$(sd_image_label "$SD_HOST_IMAGE" "$SD_IMAGE_HASH_LABEL" || true)
  [ "$have" = "$want" ] && return 0
  old=$(podman image inspect --format '{{.Id}}' "$SD_HOST_IMAGE" 2>/dev/null || true)
  ctx=$(mktemp -d "${TMPDIR:-/tmp}/simpledeploy-ctx-XXXXXX")
  cp -a "$SD_HOST_IMAGE_DIR"/. "$ctx"/
  cp "$SD_HOST_CA_BUNDLE" "$ctx/host-ca-bundle.crt"
  sd_log "building $SD_HOST_IMAGE (context hash $want)"
  if ! sd_quiet podman build --pull=never --label "$SD_IMAGE_HASH_LABEL=$want" \
    -t "$SD_HOST_IMAGE" -f "$ctx/Containerfile" "$ctx"; then
    rm -rf "$ctx"
    sd_die "podman build of $SD_HOST_IMAGE failed"
  fi
  rm -rf "$ctx"
  # The image it replaces, if nothing else uses it.
  if [ -n "$old" ] && [ "$old" != "$(podman image inspect --format '{{.Id}}' "$SD_HOST_IMAGE")" ]; then
    podman rmi "$old" >/dev/null 2>&1 || true
  fi
}

# SD_PG_IMAGE (the host image plus PostgreSQL) from molecule/images/postgresql;
# rebuilt when that directory or the host image changes.
sd_ensure_pg_image() {
  local want have
  sd_check_podman
  want=$({
    (cd "$SD_PG_IMAGE_DIR" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
    podman image inspect --format '{{.Id}}' "$SD_HOST_IMAGE"
  } | sha256sum | cut -c1-16)
  have=$(sd_image_label "$SD_PG_IMAGE" "$SD_IMAGE_HASH_LABEL" || true)
  [ "$have" = "$want" ] && return 0
  sd_log "building $SD_PG_IMAGE (context hash $want)"
  sd_quiet podman build --pull=never --label "$SD_IMAGE_HASH_LABEL=$want" \
    -t "$SD_PG_IMAGE" -f "$SD_PG_IMAGE_DIR/Containerfile" "$SD_PG_IMAGE_DIR" ||
    sd_die "podman build of $SD_PG_IMAGE failed"
}

# podman is there and works with this project's containers.conf (checked once).
sd_check_podman() {
  sd_podman_env
  [ -z "${SD_PODMAN_OK:-}" ] || return 0
  command -v podman >/dev/null || sd_die "podman is missing: apt-get install podman runc"
  podman info >/dev/null 2>&1 || sd_die "podman does not work here: $(podman info 2>&1 | tail -n 3)"
  SD_PODMAN_OK=1
}

sd_ensure_images() {
  sd_ensure_base_image
  sd_ensure_host_image
  sd_ensure_pg_image
  sd_ensure_wheelhouse
}

# Unless SD_MOLECULE_WHEELHOUSE=0 (on by default): the wheels of
# every package the Molecule scenarios' hosts install, for the hosts' Python
# (3.11.2), with the pip.conf that molecule/default/create.yml mounts on each
# host as /etc/pip.conf, so that their pip installs from them alone
# (molecule/images/wheelhouse/README.md). Downloaded again only when
# molecule/images/wheelhouse/*.txt, an example's requirements or the hosts'
# Python version change. pip retries a request that gets no answer; a
# download cut off half-way is tried again here, twice.
sd_ensure_wheelhouse() {
  local dir=$SD_WHEELHOUSE_DIR venv=$SD_TEST_CACHE/pip-py311 hash sets f try ok tmp hostpy
  [ "${SD_MOLECULE_WHEELHOUSE:-1}" = 1 ] || return 0
  sets=("$SD_ROOT"/molecule/images/wheelhouse/*.txt)
  sd_check_podman
  # The hosts' exact Python: a package may require a newer 3.11.x than
  # Debian 12's (soupsieve 4.1.3 wants 3.11.5; the hosts have 3.11.2).
  hostpy=$(podman run --rm --network none --entrypoint python3 "$SD_HOST_IMAGE" \
    -c 'import platform; print(platform.python_version())') ||
    sd_die "could not read the Python version of $SD_HOST_IMAGE"
  hash=$({ printf 'python %s\n' "$hostpy"; cat "${sets[@]}" "$SD_ROOT"/examples/*/v*/requirements.txt \
    "$SD_ROOT"/examples/*/v*/requirements/*.txt; } | sha256sum | cut -c1-64)
  [ "$(cat "$dir/.simpledeploy-hash" 2>/dev/null)" = "$hash" ] && [ -f "$dir/pip.conf" ] && return 0
  command -v python3.11 >/dev/null || sd_die "python3.11 is missing (the hosts' Python, for their wheels): apt-get install python3.11-venv"
  mkdir -p "$SD_TEST_CACHE"
  if [ ! -x "$venv/bin/pip" ]; then
    rm -rf "$venv"
    python3.11 -m venv "$venv" || sd_die "python3.11 -m venv $venv failed: apt-get install python3.11-venv"
  fi
  sd_log "wheels for the Molecule hosts into $dir (${#sets[@]} sets)"
  tmp=$(mktemp -d "$SD_TEST_CACHE/wheelhouse.new-XXXXXX")
  for f in "${sets[@]}"; do
    ok=0
    for try in 1 2 3; do
      if PIP_CONFIG_FILE=/dev/null "$venv/bin/pip" download --quiet --disable-pip-version-check \
        --python-version "$hostpy" --only-binary=:all: --dest "$tmp" -r "$f"; then
        ok=1
        break
      fi
      sd_log "pip download -r $f failed (try $try of 3)"
    done
    [ "$ok" = 1 ] || { rm -rf "$tmp"; sd_die "could not download the wheels of $f"; }
  done
  printf '[global]\nno-index = true\nfind-links = /opt/simpledeploy-wheelhouse\ndisable-pip-version-check = true\n' >"$tmp/pip.conf"
  printf '%s\n' "$hash" >"$tmp/.simpledeploy-hash"
  chmod -R a+rX "$tmp"
  rm -rf "$dir" && mv "$tmp" "$dir"
}

# Wait until systemd inside container NAME has booted ("running" or "degraded").
sd_wait_systemd() {
  local name=$1 state i
  for i in $(seq 1 120); do
    # "Failed to connect to bus" while PID 1 is still starting: try again.
    state=$(podman exec "$name" systemctl is-system-running --wait 2>/dev/null || true)
    case $state in
      running) return 0 ;;
      degraded)
        sd_warn "$name booted degraded: $(podman exec "$name" systemctl --failed --no-legend --plain 2>/dev/null | paste -sd' ')"
        return 0
        ;;
    esac
    [ "$i" -lt 120 ] && sleep 0.5
  done
  sd_die "systemd in container $name did not finish booting (last state: ${state:-none})"
}

# sd_ensure_host NAME [PODMAN-RUN-OPTION...]
# A container host from SD_HOST_IMAGE with systemd as PID 1, e.g.
#   sd_ensure_host simpledeploy-demo -p 127.0.0.1:8000:8000
# Keeps a running container of that name (its options are not compared),
# starts a stopped one, creates it otherwise; then waits for systemd.
sd_ensure_host() {
  local name=$1
  shift
  sd_podman_env
  if [ "$(podman container inspect --format '{{.State.Running}}' "$name" 2>/dev/null || true)" = true ]; then
    :
  elif podman container exists "$name"; then
    podman start "$name" >/dev/null || sd_die "podman start $name failed"
  else
    podman run -d --name "$name" --hostname "$name" --systemd=always \
      --label owner=simpledeploy "$@" "$SD_HOST_IMAGE" /sbin/init >/dev/null ||
      sd_die "podman run of $SD_HOST_IMAGE as $name failed"
  fi
  sd_wait_systemd "$name"
}

# Remove container host NAME (if it exists).
sd_remove_host() {
  sd_podman_env
  podman rm -f -t 5 "$1" >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------- environment

# Export what ansible, molecule, podman and ansible-test need. Safe to call twice.
sd_env() {
  case ":$PATH:" in *":$SD_VENV/bin:"*) ;; *) export PATH="$SD_VENV/bin:$PATH" ;; esac
  export VIRTUAL_ENV=$SD_VENV
  export ANSIBLE_COLLECTIONS_PATH=$SD_COLLECTIONS_ROOT
  export LANG=C.UTF-8 LC_ALL=C.UTF-8
  export MOLECULE_GLOB='molecule/*/molecule.yml'
  # molecule/default/create.yml mounts it into the hosts when this names it:
  # unless SD_MOLECULE_WHEELHOUSE=0, when the hosts' pip goes to PyPI.
  if [ "${SD_MOLECULE_WHEELHOUSE:-1}" = 1 ]; then export SD_WHEELHOUSE=$SD_WHEELHOUSE_DIR; else export SD_WHEELHOUSE=''; fi
  sd_podman_env
}

# Everything scripts/setup does.
sd_ensure_all() {
  sd_ensure_apt_packages
  sd_ensure_venv
  sd_ensure_collections
  sd_ensure_get_pip
  sd_ensure_images
}

# True when scripts/setup has run and its results are current (cheap checks only).
sd_setup_current() {
  [ -x "$SD_VENV/bin/python" ] &&
    [ "$(cat "$SD_VENV/.simpledeploy-requirements" 2>/dev/null)" = "$(sd_file_hash "$SD_ROOT/requirements-dev.txt")" ] &&
    [ "$(cat "$SD_COLLECTIONS_ROOT/.simpledeploy-stamp" 2>/dev/null)" = "ansible==$SD_ANSIBLE_WHEEL_VERSION ${SD_COLLECTIONS[*]}" ] &&
    [ -L "$SD_COLLECTIONS_ROOT/ansible_collections/simpledeploy/django" ]
}
