# Shared by scripts/ensure-*.sh (sourced, not run): make sure a local service answers on
# 127.0.0.1:<port>, installing its Debian package when absent (as root) and starting it
# when stopped. A service already running is left alone and never stopped.

# Whether something accepts connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ensure_installed NAME COMMAND PACKAGE HINT: install PACKAGE from Debian when COMMAND is
# missing; where this script cannot (not root, no apt-get) print HINT and exit 1.
ensure_installed() {
  local name=$1 command=$2 package=$3 hint=$4
  command -v "$command" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "$name: installing $package from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true
    apt-get install -y -qq "$package" >/dev/null
  else
    printf '%s\n' "$hint" >&2
    exit 1
  fi
}

# await_port NAME PORT TRIES PAUSE: wait until the port opens; exit 1 if it never does.
await_port() {
  local name=$1 port=$2 tries=$3 pause=$4
  for _ in $(seq 1 "$tries"); do port_open "$port" && return 0; sleep "$pause"; done
  echo "$name: did not open :$port" >&2
  exit 1
}
