#!/usr/bin/env bash
# Runs tests with the machine's clock pinned (Debian's faketime) at three instants, each in another time zone:
# 03:00 China time on a working day, 10:00 on a working day, 10:00 on a public holiday (National Day).
# PostgreSQL keeps the real clock, as in production where the two agree; the tests must not care.
# Usage: scripts/any-hour.sh PYTHON [pytest args...]   (default: the unit, flow and integration tests)
set -uo pipefail
py="$1"; shift || true
[ "$#" -gt 0 ] || set -- tests/unit tests/flows tests/integration
command -v faketime >/dev/null || { echo "any-hour: faketime is not installed (scripts/setup-system.sh)" >&2; exit 1; }
# name | TZ of the test process | the instant in that zone
instants=(
    "night-workday|Asia/Shanghai|2026-12-07 03:00:00"
    "day-workday|UTC|2026-12-07 02:00:00"
    "day-holiday|America/New_York|2026-09-30 22:00:00"
)
rc=0
for spec in "${instants[@]}"; do
    IFS='|' read -r name zone at <<<"$spec"
    echo "any-hour: $name ($at $zone)"
    TZ="$zone" faketime -f "@$at" "$py" -m pytest -q -p no:cacheprovider "$@" || { echo "any-hour: $name failed" >&2; rc=1; }
done
exit "$rc"
