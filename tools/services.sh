#!/usr/bin/env bash
# Start the local MariaDB and PostgreSQL if they are down, and give them the
# limits a 300-user run needs. Safe to run again; used by .ci/run and make.
set -uo pipefail

log() { echo "services: $*" >&2; }

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 60); do up "$1" && return 0; sleep 0.5; done
  return 1
}

if ! up 3306; then
  if command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ]; then
    log "starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
    wait_port 3306 || log "MariaDB did not come up on 127.0.0.1:3306"
  else
    log "MariaDB is not installed and nothing listens on 127.0.0.1:3306"
  fi
fi

if ! up 5432; then
  if command -v pg_ctlcluster >/dev/null; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    wait_port 5432 || log "PostgreSQL did not come up on 127.0.0.1:5432"
  else
    log "PostgreSQL is not installed and nothing listens on 127.0.0.1:5432"
  fi
fi

# MariaDB: room for 300 users plus tests and monitoring (runtime setting, no restart).
if up 3306 && command -v mariadb >/dev/null; then
  mariadb -h127.0.0.1 -uroot -e "SET GLOBAL max_connections = GREATEST(@@max_connections, 2000)" 2>/dev/null \
    || log "could not raise MariaDB max_connections"
fi

# PostgreSQL: max_connections needs a restart; only do it when it is too low.
if up 5432 && command -v psql >/dev/null; then
  current=$(psql -h127.0.0.1 -Upostgres -d postgres -Atc "SHOW max_connections" 2>/dev/null || echo 0)
  if [ "${current:-0}" -lt 500 ] 2>/dev/null; then
    log "raising PostgreSQL max_connections from ${current} to 500 (restart)"
    psql -h127.0.0.1 -Upostgres -d postgres -qc "ALTER SYSTEM SET max_connections = 500" \
      && pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main restart \
      && wait_port 5432
  fi
fi
exit 0
