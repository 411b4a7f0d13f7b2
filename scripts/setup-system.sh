#!/usr/bin/env bash
# Installs and starts the system parts the service and its tests need, on Debian 12, as root.
# Idempotent: does nothing that is already done.
set -euo pipefail

PKGS=(prometheus postgresql postgresql-client kamailio kamailio-postgres-modules kamailio-extra-modules
      sip-tester espeak-ng sox baresip python3-venv faketime chromium fonts-noto-cjk)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A machine may run PostgreSQL from another source: then the server packages are not needed.
pg_running=0
if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then pg_running=1; fi
want=()
for p in "${missing[@]}"; do
    case "$p" in postgresql|postgresql-client) [ "$pg_running" -eq 1 ] && continue ;; esac
    want+=("$p")
done
if [ "${#want[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: missing system packages: ${want[*]} (run as root, or install them)" >&2
        exit 1
    fi
    echo "setup: installing ${want[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi

# Debian's prometheus package starts a service on :9090 where systemd runs; `hotline up` runs its own there.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

# Debian's kamailio package may start a service with its default config; the project runs its own.
if pidof kamailio >/dev/null 2>&1 && [ -f /run/kamailio/kamailio.pid ]; then
    service kamailio stop >/dev/null 2>&1 || true
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$ver" ]; then
        echo "setup: PostgreSQL is installed but has no cluster; create one with pg_createcluster" >&2
        exit 1
    fi
    echo "setup: starting PostgreSQL $ver"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

# The service's own role and database. The password is a development default; production sets
# HOTLINE_DATABASE_URL to its own role.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_pg psql -v ON_ERROR_STOP=1 -qAt -d postgres <<'SQL' >/dev/null
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hotline') THEN
        CREATE ROLE hotline LOGIN CREATEDB PASSWORD 'hotline';
    END IF;
END $$;
SQL
if ! as_pg psql -qAt -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'hotline'" | grep -q 1; then
    as_pg createdb -O hotline hotline
fi
echo "setup: system ready"
