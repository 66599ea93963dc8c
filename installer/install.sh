#!/usr/bin/env bash
# CLaDMoP Studio installer for Linux and macOS (the Windows twin is install.ps1). Guide: docs/INSTALL.md
#
#   installer/install.sh [--prefix DIR] [--bin-dir DIR] [--torch auto|cpu|cuda|cuXXX]
#                        [--torch-spec SPEC] [--torch-index-url URL] [--python PY] [--no-launcher]
#   installer/install.sh --bundle FILE.tar [--prefix DIR] [--bin-dir DIR]   # offline, no network at all
#   installer/install.sh --uninstall [--prefix DIR]
#   installer/install.sh --print-plan [--torch ...]                        # what torch build it would pick
#
# Makes <prefix>/venv (Python 3.11), installs torch (CUDA build when an NVIDIA driver is present, else
# CPU) and the application (not editable), copies the shipped resources to <venv>/share/cladmop/resources
# (where engine.paths.resources_dir() finds them), writes `cladmop` and `cladmop-studio` launchers and a
# desktop entry (Linux) or an app bundle (macOS), and records every path it created outside the venv in
# <prefix>/.cladmop-install so --uninstall removes exactly those. A re-run upgrades in place.
# Bash 3.2 compatible (macOS); needs no root.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
APP_ID="cladmop-studio"
MARKER="written by the CLaDMoP Studio installer (install.sh); removed by install.sh --uninstall"
RECORD_NAME=".cladmop-install"
TORCH_VERSION="2.13.0"
PYTORCH_INDEX="https://download.pytorch.org/whl"
OS="$(uname -s)"

PREFIX="${XDG_DATA_HOME:-$HOME/.local/share}/$APP_ID"
BIN_DIR="$HOME/.local/bin"
ACTION="install"
BUNDLE=""
SOURCE=""
TORCH_CHOICE="auto"
TORCH_SPEC=""
TORCH_INDEX_URL=""
PYTHON_CHOICE="${CLADMOP_PYTHON:-}"
LAUNCHER=1

say() { printf '%s\n' "[install] $*" >&2; }
die() { printf '%s\n' "install.sh: error: $*" >&2; exit 1; }

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --prefix) PREFIX="${2:?--prefix needs a folder}"; shift ;;
      --bin-dir) BIN_DIR="${2:?--bin-dir needs a folder}"; shift ;;
      --bundle) BUNDLE="${2:?--bundle needs a file}"; shift ;;
      --source) SOURCE="${2:?--source needs a folder}"; shift ;;
      --torch) TORCH_CHOICE="${2:?--torch needs auto, cpu, cuda or a tag like cu128}"; shift ;;
      --cpu) TORCH_CHOICE="cpu" ;;
      --cuda) TORCH_CHOICE="cuda" ;;
      --torch-spec) TORCH_SPEC="${2:?--torch-spec needs a pip requirement}"; shift ;;
      --torch-index-url) TORCH_INDEX_URL="${2:?--torch-index-url needs a URL}"; shift ;;
      --python) PYTHON_CHOICE="${2:?--python needs an interpreter}"; shift ;;
      --no-launcher) LAUNCHER=0 ;;
      --uninstall) ACTION="uninstall" ;;
      --print-plan) ACTION="plan" ;;
      -h|--help) usage; exit 0 ;;
      *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
  done
  case "$PREFIX" in /*) ;; *) PREFIX="$(pwd)/$PREFIX" ;; esac
  case "$BIN_DIR" in /*) ;; *) BIN_DIR="$(pwd)/$BIN_DIR" ;; esac
  case "$PREFIX" in *" "*) die "--prefix must not contain spaces (Python launchers cannot start from there)" ;; esac
  VENV="$PREFIX/venv"
  RECORD="$PREFIX/$RECORD_NAME"
  LOG="$PREFIX/install.log"
}

# -- Python ----------------------------------------------------------------------------------------
find_python() {
  for cand in "$PYTHON_CHOICE" python3.11 python3 python; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 \
       && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      command -v "$cand"; return 0
    fi
  done
  die "Python 3.11 is required (deepchem 2.8 needs < 3.12) and none was found; install it (python.org, your package manager or pyenv) or pass --python /path/to/python3.11"
}

# -- torch build -----------------------------------------------------------------------------------
nvidia_driver() {
  # the driver version nvidia-smi reports ("570.86.10"), empty when there is no usable NVIDIA driver
  command -v nvidia-smi >/dev/null 2>&1 || return 0
  nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' \r' || true
}

version_ge() {  # version_ge 570.86.10 570.26 -> true when $1 >= $2 (numeric, dot by dot)
  local IFS=.
  local -a a=($1) b=($2)
  local i x y
  for i in 0 1 2 3; do
    x="${a[$i]:-0}"; y="${b[$i]:-0}"
    x="${x%%[!0-9]*}"; y="${y%%[!0-9]*}"
    [ "${x:-0}" -gt "${y:-0}" ] && return 0
    [ "${x:-0}" -lt "${y:-0}" ] && return 1
  done
  return 0
}

cuda_tag_for_driver() {  # the newest CUDA build in torch_cuda.tsv the driver can run; empty if none
  local driver="$1" tag linux_min windows_min
  while IFS="$(printf '\t')" read -r tag linux_min windows_min; do
    case "$tag" in ''|'#'*) continue ;; esac
    if version_ge "$driver" "$linux_min"; then echo "$tag"; return 0; fi
  done < "$HERE/torch_cuda.tsv"
}

plan_torch() {
  # sets PLAN_VARIANT, PLAN_SPEC, PLAN_INDEX, PLAN_WHY
  local driver=""
  PLAN_INDEX="$TORCH_INDEX_URL"
  if [ -n "$TORCH_SPEC" ]; then
    PLAN_VARIANT="custom"; PLAN_SPEC="$TORCH_SPEC"; PLAN_WHY="--torch-spec given"
    return 0
  fi
  case "$TORCH_CHOICE" in
    auto|cuda) driver="$(nvidia_driver)" ;;
  esac
  if [ "$OS" = "Darwin" ]; then
    [ "$TORCH_CHOICE" = "auto" ] || [ "$TORCH_CHOICE" = "cpu" ] || die "there are no CUDA builds of torch for macOS"
    PLAN_VARIANT="macos"; PLAN_SPEC="torch==$TORCH_VERSION"
    PLAN_WHY="macOS: the standard build (CPU, Apple GPU through MPS)"
    return 0
  fi
  case "$TORCH_CHOICE" in
    cpu) PLAN_VARIANT="cpu"; PLAN_WHY="--torch cpu" ;;
    auto|cuda)
      if [ -z "$driver" ]; then
        [ "$TORCH_CHOICE" = "auto" ] || die "--torch cuda: no NVIDIA driver found (nvidia-smi is missing or fails)"
        PLAN_VARIANT="cpu"; PLAN_WHY="no NVIDIA driver found (nvidia-smi)"
      else
        PLAN_VARIANT="$(cuda_tag_for_driver "$driver")"
        if [ -z "$PLAN_VARIANT" ]; then
          [ "$TORCH_CHOICE" = "auto" ] || die "NVIDIA driver $driver is older than every CUDA build in $HERE/torch_cuda.tsv; update the driver or use --torch cpu"
          PLAN_VARIANT="cpu"; PLAN_WHY="NVIDIA driver $driver is too old for the CUDA builds (update it for GPU use)"
        else
          PLAN_WHY="NVIDIA driver $driver"
        fi
      fi ;;
    cu[0-9]*) PLAN_VARIANT="$TORCH_CHOICE"; PLAN_WHY="--torch $TORCH_CHOICE" ;;
    *) die "--torch must be auto, cpu, cuda or a CUDA build tag such as cu128, not '$TORCH_CHOICE'" ;;
  esac
  PLAN_SPEC="torch==$TORCH_VERSION+$PLAN_VARIANT"
  [ -n "$PLAN_INDEX" ] || PLAN_INDEX="$PYTORCH_INDEX/$PLAN_VARIANT"
}

print_plan() {
  plan_torch
  printf 'variant=%s\nspec=%s\nindex=%s\nreason=%s\n' "$PLAN_VARIANT" "$PLAN_SPEC" "$PLAN_INDEX" "$PLAN_WHY"
}

# -- helpers ---------------------------------------------------------------------------------------
pip_in_venv() { "$VENV/bin/python" -m pip --no-cache-dir --disable-pip-version-check "$@" >>"$LOG" 2>&1; }

fail_with_log() {
  grep -v "is ignored: it is neither" "$LOG" | tail -25 >&2 || true
  die "$1 (full log: $LOG)"
}

ours() { [ -f "$1" ] && grep -qF "$MARKER" "$1" 2>/dev/null; }

record() { printf '%s\n' "$1" >> "$RECORD.new"; }

make_dirs() {  # mkdir -p DIR, printing each folder it had to create (outermost first)
  local dir="$1" missing="" d
  while [ ! -d "$dir" ]; do missing="$dir
$missing"; dir="$(dirname "$dir")"; done
  printf '%s' "$missing" | while IFS= read -r d; do
    [ -n "$d" ] || continue
    mkdir "$d" || exit 1
    printf '%s\n' "$d"
  done
}

record_dirs() {  # made_dir= lines: --uninstall removes these folders again when they are empty
  local d
  printf '%s\n' "$1" | while IFS= read -r d; do [ -z "$d" ] || record "made_dir=$d"; done
}

write_owned_file() {  # write_owned_file PATH MODE < content; refuses to overwrite a file that is not ours
  local path="$1" mode="$2"
  if [ -e "$path" ] && ! ours "$path"; then
    rm -f "$path.cladmop-tmp"
    die "$path exists and was not written by this installer; move it away or choose another --bin-dir"
  fi
  local made
  made="$(make_dirs "$(dirname "$path")")" || die "cannot create the folder of $path (no write access?)"
  record_dirs "$made"
  cat > "$path.cladmop-tmp"
  chmod "$mode" "$path.cladmop-tmp"
  mv -f "$path.cladmop-tmp" "$path"
  record "created=$path"
}

# -- install ---------------------------------------------------------------------------------------
prepare_prefix() {
  if [ -e "$VENV" ] && [ ! -f "$RECORD" ]; then
    die "$VENV exists but was not made by this installer (no $RECORD); choose another --prefix"
  fi
  local made
  made="$(make_dirs "$PREFIX" 2>/dev/null)" || die "cannot create $PREFIX (no write access?); choose a --prefix you can write"
  [ -w "$PREFIX" ] || die "no write access to $PREFIX; choose a --prefix you can write"
  : > "$LOG" || die "cannot write $LOG"
  rm -f "$RECORD.new"
  record "# CLaDMoP Studio install record - $MARKER"
  record_dirs "$made"
}

make_venv() {
  local py="$1"
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -P -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    say "upgrading the existing environment $VENV"
  else
    rm -rf "$VENV"
    say "creating the Python 3.11 environment $VENV"
    "$py" -m venv "$VENV" >>"$LOG" 2>&1 || fail_with_log "could not create a virtual environment with $py"
  fi
  printf '%s\n' "$MARKER" > "$VENV/.cladmop-venv"
}

installed_torch() { "$VENV/bin/python" -P -c 'import torch; print(torch.__version__)' 2>/dev/null || true; }

install_torch_online() {
  plan_torch
  local have want
  have="$(installed_torch)"
  want="${PLAN_SPEC#torch==}"
  if [ -n "$have" ] && [ "$have" = "$want" ]; then
    say "torch $have is already installed ($PLAN_WHY)"
  else
    say "installing $PLAN_SPEC ($PLAN_WHY); this is the large download"
    if [ -n "$TORCH_INDEX_URL" ]; then
      pip_in_venv install --index-url "$TORCH_INDEX_URL" "$PLAN_SPEC" || fail_with_log "could not install $PLAN_SPEC from $TORCH_INDEX_URL"
    elif ! pip_in_venv install "$PLAN_SPEC"; then
      # not on the configured sources (PyPI carries no +cpu / +cuXXX builds): the PyTorch index has them
      [ "$PLAN_VARIANT" = "macos" ] && fail_with_log "could not install $PLAN_SPEC"
      say "not on the configured package sources; trying $PLAN_INDEX"
      pip_in_venv install --index-url "$PLAN_INDEX" "$PLAN_SPEC" \
        || fail_with_log "could not install $PLAN_SPEC (no network? use an offline bundle: --bundle)"
    fi
  fi
  TORCH_VARIANT="$PLAN_VARIANT"
}

build_app_wheel() {  # a wheel of the application from $SOURCE, built in a scratch copy (the tree stays clean)
  local scratch="$1" item
  [ -f "$SOURCE/pyproject.toml" ] || die "$SOURCE is not the CLaDMoP Studio source (no pyproject.toml)"
  mkdir -p "$scratch/src"
  for item in pyproject.toml README.md engine desktop; do
    cp -R "$SOURCE/$item" "$scratch/src/" || die "cannot read $SOURCE/$item"
  done
  find "$scratch/src" -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true
  say "building the application wheel from $SOURCE"
  pip_in_venv wheel --no-deps -w "$scratch/dist" "$scratch/src" || fail_with_log "could not build the application"
  APP_WHEEL="$(ls "$scratch"/dist/cladmop_studio-*.whl)"
}

install_app() {  # install_app WHEEL [pip options for the dependencies]
  local wheel="$1"; shift
  printf 'torch==%s\n' "$(installed_torch)" > "$PREFIX/constraints.txt"  # keep the chosen torch build
  say "installing the application and its dependencies"
  pip_in_venv install "$@" -c "$PREFIX/constraints.txt" "$wheel" || fail_with_log "could not install the application"
  pip_in_venv install "$@" --no-deps --force-reinstall "$wheel" || fail_with_log "could not install the application"
}

copy_resources() {  # the shipped files, where engine.paths.resources_dir() looks: <venv>/share/cladmop/resources
  local from="$1" share="$VENV/share/cladmop"
  [ -d "$from" ] || die "$from: the resources folder is missing"
  mkdir -p "$share"
  rm -rf "$share/resources.new"
  cp -R "$from" "$share/resources.new"
  find "$share/resources.new" -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true
  rm -rf "$share/resources"
  mv "$share/resources.new" "$share/resources"
}

write_launchers() {
  local name
  for name in cladmop cladmop-studio; do
    write_owned_file "$BIN_DIR/$name" 755 <<EOF
#!/bin/sh
# $name - $MARKER
exec "$VENV/bin/$name" "\$@"
EOF
  done
  cp "$HERE/cladmop-studio.svg" "$PREFIX/cladmop-studio.svg"
  [ "$LAUNCHER" = 1 ] || return 0
  if [ "$OS" = "Darwin" ]; then
    local app="$HOME/Applications/CLaDMoP Studio.app"
    if [ -e "$app" ] && ! ours "$app/Contents/cladmop-installer"; then
      die "$app exists and was not made by this installer"
    fi
    record_dirs "$(make_dirs "$(dirname "$app")")"
    mkdir -p "$app/Contents/MacOS"
    printf '%s\n' "$MARKER" > "$app/Contents/cladmop-installer"
    cat > "$app/Contents/Info.plist" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
  <key>CFBundleName</key><string>CLaDMoP Studio</string>
  <key>CFBundleIdentifier</key><string>org.cladmop.studio</string>
  <key>CFBundleExecutable</key><string>cladmop-studio</string>
  <key>CFBundlePackageType</key><string>APPL</string>
</dict></plist>
EOF
    printf '#!/bin/sh\n# %s\nexec "%s/bin/cladmop-studio" "$@"\n' "$MARKER" "$VENV" > "$app/Contents/MacOS/cladmop-studio"
    chmod 755 "$app/Contents/MacOS/cladmop-studio"
    record "created_dir=$app"
    DESKTOP_ENTRY="$app"
  else
    DESKTOP_ENTRY="${XDG_DATA_HOME:-$HOME/.local/share}/applications/$APP_ID.desktop"
    write_owned_file "$DESKTOP_ENTRY" 644 <<EOF
[Desktop Entry]
# $MARKER
Type=Application
Name=CLaDMoP Studio
GenericName=Clinical-trial outcome prediction
Comment=Clinical-trial records, what-if criteria and the CLaDMoP success probability, on this machine
Exec="$VENV/bin/cladmop-studio" %F
Icon=$PREFIX/cladmop-studio.svg
Terminal=false
Categories=Science;Education;MedicalSoftware;
MimeType=text/xml;application/json;text/csv;
StartupWMClass=cladmop-studio
EOF
    command -v update-desktop-database >/dev/null 2>&1 \
      && update-desktop-database "$(dirname "$DESKTOP_ENTRY")" >/dev/null 2>&1 || true
  fi
}

check_qt_libraries() {
  # The desktop app needs the system's X11/xcb libraries on Linux; list the missing ones with packages.
  [ "$OS" = "Linux" ] || return 0
  local plugin missing="" lib ldconfig_bin=""
  plugin="$(ls "$VENV"/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/libqxcb.so 2>/dev/null || true)"
  [ -n "$plugin" ] && command -v ldd >/dev/null 2>&1 || return 0
  missing="$(ldd "$plugin" "$(dirname "$plugin")/../../lib/libQt6XcbQpa.so.6" 2>/dev/null \
             | awk '/not found/ {print $1}' | sort -u | tr '\n' ' ')"
  for ldconfig_bin in ldconfig /sbin/ldconfig /usr/sbin/ldconfig; do
    command -v "$ldconfig_bin" >/dev/null 2>&1 && break
  done
  if command -v "$ldconfig_bin" >/dev/null 2>&1 && ! "$ldconfig_bin" -p 2>/dev/null | grep -q 'libxcb-cursor\.so\.0'; then
    missing="$missing libxcb-cursor.so.0"  # Qt >= 6.5 loads it at start-up, so ldd cannot see it
  fi
  QT_MISSING="$(echo $missing)"
  [ -n "$QT_MISSING" ] || return 0
  local packages=""
  for lib in $QT_MISSING; do  # Debian/Ubuntu names: libxcb-icccm.so.4 -> libxcb-icccm4, libfoo-1.so.3 -> libfoo-1-3
    local base="${lib%%.so*}" ver="${lib##*.so.}"
    case "$base" in *[0-9]) packages="$packages $(echo "$base" | tr 'A-Z' 'a-z')-$ver" ;;
                    *) packages="$packages $(echo "$base" | tr 'A-Z' 'a-z')$ver" ;; esac
  done
  say "warning: the desktop app will not start on an X11 display: missing system libraries: $QT_MISSING"
  say "  Debian/Ubuntu: sudo apt-get install$packages   (Fedora/RHEL: see docs/INSTALL.md, Troubleshooting)"
  say "  the command line (cladmop) works without them"
}

smoke_test() {
  say "checking the installation"
  "$VENV/bin/cladmop" --help >/dev/null 2>>"$LOG" || fail_with_log "the installed cladmop does not start"
  RESOURCES_FOUND="$(CLADMOP_RESOURCES= "$VENV/bin/python" -P -c 'import sys
from pathlib import Path
from engine.paths import resources_dir
found = resources_dir()
print(found if found.resolve() == (Path(sys.prefix) / "share/cladmop/resources").resolve() else f"WRONG {found}")' \
    2>>"$LOG")" || fail_with_log "the installed engine does not import"
  case "$RESOURCES_FOUND" in WRONG*)
    die "the installed app looks for its resources at ${RESOURCES_FOUND#WRONG } instead of $VENV/share/cladmop/resources" ;;
  esac
  "$VENV/bin/python" -P -c 'import PySide6.QtWidgets, desktop.app' >>"$LOG" 2>&1 \
    || fail_with_log "the desktop application does not import (Qt)"
  check_qt_libraries
}

finish_record() {
  record "app_version=$("$VENV/bin/python" -P -c 'from importlib.metadata import version; print(version("cladmop-studio"))')"
  record "torch=$(installed_torch)"
  record "torch_variant=$TORCH_VARIANT"
  record "installed_from=$INSTALLED_FROM"
  record "date=$(date '+%Y-%m-%d %H:%M:%S')"
  if [ -f "$RECORD" ]; then  # keep earlier entries a re-run no longer writes (e.g. after --no-launcher)
    { grep -E '^(created|created_dir|made_dir|backbone)=' "$RECORD" || true; } | while IFS= read -r line; do
      grep -qxF "$line" "$RECORD.new" || printf '%s\n' "$line" >> "$RECORD.new"
    done
  fi
  mv -f "$RECORD.new" "$RECORD"
  # a copy of the installer in the prefix, so --uninstall works after the source or bundle is gone
  mkdir -p "$PREFIX/installer"
  cp "$HERE/install.sh" "$HERE/bundle.py" "$HERE/torch_cuda.tsv" "$HERE/cladmop-studio.svg" "$PREFIX/installer/"
}

print_summary() {
  local python_version torch_line cuda
  python_version="$("$VENV/bin/python" -P -c 'import platform; print(platform.python_version())')"
  cuda="$("$VENV/bin/python" -P -c 'import torch; print(torch.version.cuda or "")' 2>/dev/null || true)"
  torch_line="$(installed_torch) ($( [ -n "$cuda" ] && echo "CUDA $cuda build" || echo "CPU build"))"
  local res="$VENV/share/cladmop/resources" model="absent" icd="absent"
  [ -f "$res/models/default/model.json" ] && model="present"
  [ -f "$res/icd10_embeddings.safetensors" ] && icd="present"
  cat >&2 <<EOF

CLaDMoP Studio $(sed -n 's/^app_version=//p' "$RECORD") installed from $INSTALLED_FROM
  environment  $VENV (Python $python_version)
  torch        $torch_line
  resources    $res (default model: $model, ICD-10 table: $icd)
  commands     $BIN_DIR/cladmop, $BIN_DIR/cladmop-studio
  launcher     ${DESKTOP_ENTRY:-none (--no-launcher)}
  user data    ${CLADMOP_HOME:-$HOME/.cladmop} (made on first use; --uninstall keeps it)
  log          $LOG
  uninstall    $PREFIX/installer/install.sh --uninstall --prefix $PREFIX
EOF
  case ":$PATH:" in *":$BIN_DIR:"*) ;; *)
    printf '  note         %s is not on your PATH; add it (e.g. in ~/.profile): export PATH="%s:$PATH"\n' \
      "$BIN_DIR" "$BIN_DIR" >&2 ;;
  esac
}

install_from_source() {
  SOURCE="${SOURCE:-$(cd "$HERE/.." && pwd)}"
  SOURCE="$(cd "$SOURCE" && pwd)"
  local py
  py="$(find_python)"
  cd /  # pip and python must not see the current folder (a source tree's egg-info, a stray 'torch')
  prepare_prefix
  make_venv "$py"
  install_torch_online
  SCRATCH="$(mktemp -d)"
  trap 'rm -rf "$SCRATCH"' EXIT
  build_app_wheel "$SCRATCH"
  install_app "$APP_WHEEL"
  copy_resources "$SOURCE/resources"
  INSTALLED_FROM="source $SOURCE"
  write_launchers
  smoke_test
  finish_record
  print_summary
}

install_from_bundle() {
  [ -z "$TORCH_SPEC$TORCH_INDEX_URL$SOURCE" ] && [ "$TORCH_CHOICE" = "auto" ] \
    || die "--bundle fixes the torch build and the source; leave out --torch, --torch-spec, --torch-index-url, --source"
  [ -f "$BUNDLE" ] || die "$BUNDLE: bundle file not found"
  BUNDLE="$(cd "$(dirname "$BUNDLE")" && pwd)/$(basename "$BUNDLE")"
  local py root
  py="$(find_python)"
  cd /  # pip and python must not see the current folder (a source tree's egg-info, a stray 'torch')
  # Offline: pip sees the bundle's wheels and nothing else (no index, no user or site pip config).
  for var in $(compgen -e | grep '^PIP_' || true); do unset "$var"; done
  export PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
  SCRATCH="$(mktemp -d)"
  trap 'rm -rf "$SCRATCH"' EXIT
  say "verifying and unpacking $BUNDLE"
  root="$("$py" "$HERE/bundle.py" unpack "$BUNDLE" "$SCRATCH")" || die "$BUNDLE: not installed (see above)"
  prepare_prefix
  make_venv "$py"
  local torch_version app_wheel name
  torch_version="$("$py" "$HERE/bundle.py" field "$root" torch)"
  app_wheel="$root/wheels/$("$py" "$HERE/bundle.py" field "$root" app_wheel)"
  TORCH_VARIANT="$("$py" "$HERE/bundle.py" field "$root" torch_variant)"
  if [ "$(installed_torch)" != "$torch_version" ]; then
    say "installing torch $torch_version from the bundle"
    pip_in_venv install --no-index --find-links "$root/wheels" "torch==$torch_version" \
      || fail_with_log "could not install torch from the bundle"
  fi
  install_app "$app_wheel" --no-index --find-links "$root/wheels"
  copy_resources "$root/resources"
  INSTALLED_FROM="bundle $BUNDLE"
  write_launchers
  smoke_test
  for name in $("$py" "$HERE/bundle.py" field "$root" backbones); do
    say "importing the language model '$name' from the bundle"
    "$VENV/bin/cladmop" import-backbone "$root/backbones/$name" --name "$name" --replace >>"$LOG" 2>&1 \
      || fail_with_log "could not import the bundled backbone $name"
    record "backbone=$name"
  done
  finish_record
  print_summary
}

# -- uninstall -------------------------------------------------------------------------------------
uninstall() {
  [ -f "$RECORD" ] || die "nothing to uninstall at $PREFIX (no $RECORD_NAME install record)"
  cd /
  local line path removed=0 kept=""
  while IFS= read -r line; do
    case "$line" in
      backbone=*)
        if [ -x "$VENV/bin/cladmop" ] && "$VENV/bin/cladmop" remove-backbone "${line#backbone=}" >/dev/null 2>&1; then
          say "removed the imported backbone ${line#backbone=}"
        fi ;;
    esac
  done < "$RECORD"
  while IFS= read -r line; do
    case "$line" in
      created=*)
        path="${line#created=}"
        if ours "$path"; then rm -f "$path"; removed=$((removed + 1)); say "removed $path"
        elif [ -e "$path" ]; then kept="$kept $path"; fi ;;
      created_dir=*)
        path="${line#created_dir=}"
        if ours "$path/Contents/cladmop-installer"; then rm -rf "$path"; say "removed $path"; fi ;;
    esac
  done < "$RECORD"
  if [ -f "$VENV/.cladmop-venv" ]; then rm -rf "$VENV"; say "removed $VENV"; fi
  local applications="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
  command -v update-desktop-database >/dev/null 2>&1 && [ -d "$applications" ] \
    && update-desktop-database "$applications" >/dev/null 2>&1 || true
  local made_dirs
  made_dirs="$(sed -n 's/^made_dir=//p' "$RECORD" | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-)"
  rm -rf "$PREFIX/installer"
  rm -f "$PREFIX/cladmop-studio.svg" "$PREFIX/constraints.txt" "$PREFIX/install.log" "$RECORD" "$RECORD.new"
  printf '%s\n' "$made_dirs" | while IFS= read -r path; do  # deepest first; a folder with other files stays
    [ -n "$path" ] && [ -d "$path" ] || continue
    rmdir "$path" 2>/dev/null || say "kept $path (it holds files the installer did not make)"
  done
  [ -z "$kept" ] || say "kept (changed since install, not ours any more):$kept"
  say "CLaDMoP Studio uninstalled; your data in ${CLADMOP_HOME:-$HOME/.cladmop} was kept (delete it yourself if you wish)"
}

main() {
  parse_args "$@"
  case "$ACTION" in
    plan) print_plan ;;
    uninstall) uninstall ;;
    install) if [ -n "$BUNDLE" ]; then install_from_bundle; else install_from_source; fi ;;
  esac
}

main "$@"
exit $?
