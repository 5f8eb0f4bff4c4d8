#!/usr/bin/env bash
# fortellis-nb's two everyday commands. Both set up what they need first (a .venv here).
#
#   ./dev.sh lab        set up, start the sandbox, open JupyterLab on notebook 01 of your own
#                       copies (./fortellis-notebooks, ignored by git; notebooks/ stays as committed)
#   ./dev.sh test       set up (with test tools; Chromium via apt when run as root) and run every test
#   ./dev.sh notebooks  re-execute the notebooks in place (on a private sandbox), outputs saved
#                       with placeholders for the sandbox's port and links
#
# Any further arguments go to JupyterLab, pytest, or (notebooks) name the notebooks to run.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

setup() {  # $1: the extras to install ("" or "test"); FORTELLIS_CONSTRAINTS: a pip constraints file
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
  fi
  local wanted stamp constraints=()
  wanted="."
  [ -n "$1" ] && wanted=".[$1]"
  [ -n "${FORTELLIS_CONSTRAINTS:-}" ] && constraints=(-c "$FORTELLIS_CONSTRAINTS")
  # A fingerprint of what is asked for (Python, not sha256sum: macOS has none).
  stamp="$VENV/.fortellis-nb-$("$VENV/bin/python" -c 'import hashlib, sys
print(hashlib.sha256(b"".join(open(f, "rb").read() for f in sys.argv[1:])).hexdigest()[:16])' \
    pyproject.toml ${FORTELLIS_CONSTRAINTS:+"$FORTELLIS_CONSTRAINTS"})-${1:-base}"
  if [ ! -f "$stamp" ]; then
    # pip's own output goes to a log, shown only if the install fails: an editable install makes
    # setuptools print a notice about it that is of no use here.
    local log="$VENV/pip.log"
    echo "Setting up $VENV (${1:-notebooks}; pip's log: $log) ..."
    if ! { "$VENV/bin/python" -m pip install --upgrade pip &&
           "$VENV/bin/python" -m pip install ${constraints[@]+"${constraints[@]}"} -e "$wanted"; } >"$log" 2>&1; then
      tail -n 40 "$log" >&2
      echo "Setting up $VENV failed; the whole log: $log" >&2
      exit 1
    fi
    "$VENV/bin/python" -m fortellis_nb kernel-config >/dev/null
    touch "$stamp"
  fi
}

need_system_tools() {  # the browser tests need Chromium; the protocol tests need curl, node and npm
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v curl >/dev/null || missing+=(curl)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing ${missing[*]} with apt-get ..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Note: ${missing[*]} not found; install them (Debian/Ubuntu: sudo apt-get install ${missing[*]})." >&2
    echo "      Tests that need them are skipped until then." >&2
  fi
}

case "${1:-}" in
  lab)
    shift
    setup ""
    # As `fortellis-nb lab` from pip: copies the notebooks into ./fortellis-notebooks (a copy
    # already there is kept: the learner's work), starts the sandbox (or says which server the
    # FORTELLIS_* settings name), opens JupyterLab there on notebook 01 (--allow-root as root)
    # and, when JupyterLab stops, says the sandbox runs on and how to stop it (--stop-sandbox:
    # stop it). The learner's outputs, pasted URLs and .env stay out of the tracked notebooks/.
    exec "$VENV/bin/python" -m fortellis_nb lab "$@"
    ;;
  test)
    shift
    setup "test"
    need_system_tools
    exec "$VENV/bin/python" -m pytest -n 2 --dist loadfile "$@"
    ;;
  notebooks)
    shift
    setup "test"
    state=$(mktemp -d)
    trap '"$VENV/bin/python" -m fortellis_nb.sandbox stop --state "$state" >/dev/null; rm -rf "$state"' EXIT
    [ $# -gt 0 ] || set -- notebooks/[0-9][0-9]-*.ipynb
    # No FORTELLIS_* settings: the notebooks run on the sandbox, as a learner's first run does.
    env $(env | sed -n 's/^\(FORTELLIS_[A-Z_]*\)=.*/-u \1/p') FORTELLIS_SANDBOX_STATE="$state" \
      "$VENV/bin/jupyter" nbconvert --to notebook --execute --inplace \
      --ExecutePreprocessor.timeout=300 \
      --ClearMetadataPreprocessor.enabled=True --ClearMetadataPreprocessor.clear_cell_metadata=False \
      --ClearMetadataPreprocessor.preserve_nb_metadata_mask=kernelspec \
      --ClearMetadataPreprocessor.preserve_nb_metadata_mask=language_info "$@"
    # The notebooks keep their kernel and language and no widget state (of this run, or of an
    # earlier save from JupyterLab), so the widgets' views go below and their snapshots show: read
    # on GitHub, converted to HTML offline, or opened in JupyterLab, they need no kernel and no
    # internet. The saved outputs show PORT for the sandbox's port and no link to it (the author's
    # would lead nowhere on a learner's machine); tests/nbval-sanitize.cfg still compares them.
    "$VENV/bin/python" -m tests.placeholder_outputs "$@"
    ;;
  *)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print } /^set / { exit }' "$0"
    exit 2
    ;;
esac
