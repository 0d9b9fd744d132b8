#!/usr/bin/env bash
# install-deps.sh - install Postern's build (and, with --test, test) dependencies
# from Debian packages. Idempotent: packages already present are left alone.
#
# Usage: scripts/install-deps.sh [--test]
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build pkg-config
  libboost-dev libboost-system-dev
  libssl-dev libc-ares-dev libdb5.3++-dev
  libfmt-dev libspdlog-dev libpcre2-dev nlohmann-json3-dev
  # sqlite:, mysql: and pgsql: tables; the libraries are loaded when the
  # first such table is opened.
  libsqlite3-dev libmariadb-dev libpq-dev
  # lmdb: and cdb: tables (loaded the same way).
  liblmdb-dev libcdb-dev
)
test_pkgs=(
  libgtest-dev googletest clang libclang-rt-14-dev
  python3 swaks procps psmisc util-linux dnsmasq-base
  # openssl: test certificates and s_client (test_tls.py).
  openssl
  # dovecot-core: a real SASL authentication service for test_sasl.py.
  dovecot-core
  # postsrsd: a real tcp_table(5) server (SRS) for test_net_tables.py.
  postsrsd
  # mariadb-server, postgresql: real SQL servers for the mysql: and pgsql:
  # tables (test_sql_tables.py).
  mariadb-server postgresql
  # The reference MTA: its smtp-source/smtp-sink and postmap are test peers.
  # Preseeded as "No configuration", so it is installed but never started.
  # postfix-sqlite, postfix-mysql, postfix-pgsql: the reference for the SQL
  # tables (test_sql_tables.py).
  # postfix-lmdb, postfix-cdb: the reference for those tables.
  postfix postfix-pcre postfix-sqlite postfix-mysql postfix-pgsql postfix-lmdb postfix-cdb
)

want=("${build_pkgs[@]}")
if [[ "${1:-}" == "--test" ]]; then
  want+=("${test_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if printf '%s\n' "${missing[@]}" | grep -qx postfix; then
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Dovecot is a test peer, started by the tests themselves on private
# sockets; the package's own service is not wanted running (it would have
# no protocols anyway: only dovecot-core is installed).
if printf '%s\n' "${missing[@]}" | grep -qx dovecot-core; then
  $SUDO systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 ||
    $SUDO service dovecot stop >/dev/null 2>&1 || true
fi
# The same for postsrsd and MariaDB, which the tests start on their own ports
# and sockets.
if printf '%s\n' "${missing[@]}" | grep -qx postsrsd; then
  $SUDO systemctl disable --now postsrsd.service >/dev/null 2>&1 ||
    $SUDO service postsrsd stop >/dev/null 2>&1 || true
fi
if printf '%s\n' "${missing[@]}" | grep -qx mariadb-server; then
  $SUDO systemctl disable --now mariadb.service >/dev/null 2>&1 ||
    $SUDO service mariadb stop >/dev/null 2>&1 || true
fi
if printf '%s\n' "${missing[@]}" | grep -qx postgresql; then
  $SUDO systemctl disable --now postgresql.service >/dev/null 2>&1 ||
    $SUDO service postgresql stop >/dev/null 2>&1 || true
fi
