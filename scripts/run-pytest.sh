#!/usr/bin/env bash
# Runs the suite; pytest's exit code 5 ("no tests collected") is a failure, not a pass.
set -uo pipefail
py="$1"; shift || true
"$py" -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$rc"
