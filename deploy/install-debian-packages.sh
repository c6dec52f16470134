#!/usr/bin/env bash
# Installs the Debian packages the ops tests need: `prometheus` (for promtool and the prometheus
# binary the end-to-end alert test starts on its own ports), `prometheus-alertmanager` (for
# amtool and the alertmanager binary), and `chromium` with `chromium-driver` (the headless
# browser the care team's queue page is tested in, tests/test_queue_browser.py). Nothing else:
# --no-install-recommends keeps prometheus-node-exporter out.
#
# Idempotent: does nothing when promtool, prometheus, prometheus-alertmanager, amtool, chromium
# and chromedriver are all on PATH already. Uses sudo only when not root. Quiet unless something
# fails.
#
# No system service is left running. Debian's packages start prometheus on :9090 and
# alertmanager on :9093 from their maintainer scripts; our local stack runs the Kafka controller
# on 127.0.0.1:9093, and the tests start their own prometheus/alertmanager on free ports. So:
#   1. while installing, a policy-rc.d that answers 101 ("action forbidden") is put in place
#      (only if none exists; an existing one, e.g. in Docker images, is left as it is) so that
#      invoke-rc.d / deb-systemd-invoke do not start the services;
#   2. after installing, if the packages were installed by this run, the services are stopped
#      and disabled (systemd or sysvinit), in case a host ignored policy-rc.d.
# A host that already had these packages (and maybe runs them on purpose) is not touched.
#
# Environment: MENTIONWATCH_SKIP_APT=1 makes the script only report what is missing (exit 1 if
#              anything is), for machines where the tools come from elsewhere.
set -euo pipefail

need=()
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  need+=(prometheus)
fi
if ! command -v prometheus-alertmanager >/dev/null 2>&1 || ! command -v amtool >/dev/null 2>&1; then
  need+=(prometheus-alertmanager)
fi
if ! command -v chromium >/dev/null 2>&1; then
  need+=(chromium)
fi
if ! command -v chromedriver >/dev/null 2>&1; then
  need+=(chromium-driver)
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

if [ "${MENTIONWATCH_SKIP_APT:-0}" = 1 ]; then
  echo "install-debian-packages: missing ${need[*]} (MENTIONWATCH_SKIP_APT=1, not installing)" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-debian-packages: no apt-get here; install Prometheus (promtool), Alertmanager" \
       "(amtool) and Chromium (chromium, chromedriver) yourself" >&2
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-debian-packages: not root and no sudo; run as root: apt-get install -y" \
         "--no-install-recommends ${need[*]}" >&2
    exit 1
  fi
fi

log=$(mktemp "${TMPDIR:-/tmp}/mentionwatch-apt.XXXXXX")
policy=/usr/sbin/policy-rc.d
made_policy=0
cleanup() {
  if [ "$made_policy" = 1 ]; then "${SUDO[@]}" rm -f "$policy"; fi
  rm -f "$log"
}
trap cleanup EXIT

if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# temporary, from mentionwatch deploy/install-debian-packages.sh\nexit 101\n' \
    | "${SUDO[@]}" tee "$policy" >/dev/null
  "${SUDO[@]}" chmod 0755 "$policy"
  made_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
run_apt() {
  if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive "$@" >>"$log" 2>&1; then
    echo "install-debian-packages: '$*' failed:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
}
# The package lists may be missing (fresh container) or stale (404 on an old version): update
# first if no candidate is known, and retry once after an update if the install fails.
if ! apt-cache policy "${need[@]}" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  run_apt apt-get update -qq
fi
if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${need[@]}" >>"$log" 2>&1; then
  run_apt apt-get update -qq
  run_apt apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# Belt and braces: whatever the init system did, leave no service of a package installed here
# running or enabled (the service names equal the package names).
for svc in "${need[@]}"; do
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    "${SUDO[@]}" systemctl disable --now "$svc" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$svc" ]; then
    "${SUDO[@]}" "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    command -v update-rc.d >/dev/null 2>&1 && "${SUDO[@]}" update-rc.d "$svc" disable >/dev/null 2>&1 || true
  fi
done

for tool in promtool prometheus prometheus-alertmanager amtool chromium chromedriver; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "install-debian-packages: installed ${need[*]} but $tool is still not on PATH" >&2
    exit 1
  fi
done
