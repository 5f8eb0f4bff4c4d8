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
# PYTHON names the Python that makes the environment (default python3), VENV its folder
# (default .venv), FORTELLIS_CONSTRAINTS a pip constraints file. The work is dev.py's, the same
# commands for PowerShell and cmd.exe (`py dev.py lab`): one set-up for every shell.
set -euo pipefail
cd "$(dirname "$0")"
case "${1:-}" in
  lab|test|notebooks)
    exec "${PYTHON:-python3}" dev.py "$@"
    ;;
  *)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print } /^set / { exit }' "$0"
    exit 2
    ;;
esac
