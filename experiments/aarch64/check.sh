#!/bin/bash
# make check-aarch64: run kernels/README.md's "Running the gateway on a Raspberry Pi 4" section in a
# clean Debian arm64 root file system under qemu-user emulation, then compare its predictions
# and alerts with the x86 run of the same models on the same inputs, bit for bit.
#
# Needs root, qemu-user-static, debootstrap (and binfmt_misc); apt-get installs the last two.
# The base root file system is built once and cached in $AARCH64_CACHE (default
# /var/cache/ltcn-aarch64); every run starts from a fresh copy of it. Results: results/aarch64/.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${AARCH64_CACHE:-/var/cache/ltcn-aarch64}
SUITE=${AARCH64_SUITE:-bookworm}
MIRROR=${AARCH64_MIRROR:-http://deb.debian.org/debian}
PY=${PYTHON:-$REPO/.venv/bin/python}
OUT=$REPO/results/aarch64
BASE=$CACHE/base-$SUITE
ROOT=$CACHE/run
STAGE=$CACHE/stage
NICE=(nice -n 19 taskset -c 0)

say() { echo "check-aarch64: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mounts)"
if ! command -v qemu-aarch64-static >/dev/null || ! command -v debootstrap >/dev/null; then
  command -v apt-get >/dev/null || die "install qemu-user-static and debootstrap"
  say "installing qemu-user-static debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    qemu-user-static debootstrap >/dev/null
fi
# binfmt_misc: arm64 ELF files run through qemu (F: the interpreter works inside the chroot).
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  conf=/usr/lib/binfmt.d/qemu-aarch64.conf
  [ -f "$conf" ] || die "no $conf (qemu-user-static's binfmt entry)"
  cat "$conf" > /proc/sys/fs/binfmt_misc/register
fi

mkdir -p "$CACHE" "$OUT"
T0=$(date +%s)
if [ ! -f "$BASE/.ltcn-base-ok" ]; then
  say "building the $SUITE arm64 root file system in $BASE (once; cached)"
  rm -rf "$BASE.tmp"
  "${NICE[@]}" debootstrap --arch=arm64 --variant=minbase "$SUITE" "$BASE.tmp" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || die "debootstrap failed; see $CACHE/debootstrap.log"
  touch "$BASE.tmp/.ltcn-base-ok"
  mv "$BASE.tmp" "$BASE"
fi
T_BASE=$(( $(date +%s) - T0 ))

# --- the x86 side: tiny models trained here, and their outputs on the fixtures -------------
rm -rf "$STAGE" && mkdir -p "$STAGE"
say "x86: training and exporting the test models, running predict/detect"
"${NICE[@]}" env NUMBA_NUM_THREADS=1 "$PY" "$REPO/experiments/aarch64/parity.py" prepare --stage "$STAGE"
"${NICE[@]}" env NUMBA_NUM_THREADS=1 PATH="$(dirname "$PY"):$PATH" bash "$REPO/experiments/aarch64/edge_run.sh" "$STAGE" "$STAGE/x86"

# --- a fresh copy of the clean root file system -----------------------------------------
cleanup() {
  for m in "$ROOT/dev/pts" "$ROOT/dev" "$ROOT/sys" "$ROOT/proc" "$ROOT/root/.cache/pip"; do
    mountpoint -q "$m" 2>/dev/null && umount -l "$m" || true
  done
}
trap cleanup EXIT
cleanup
# AARCH64_REUSE=1: keep the root file system of the last run, whose README install steps
# (apt, pip, user, unit) passed, and run the rest again (for iterating on the checks).
SKIP_INSTALL=
if [ -n "${AARCH64_REUSE:-}" ] && [ -x "$ROOT/opt/ltcn/bin/ltcn" ]; then
  SKIP_INSTALL=1
  say "reusing $ROOT (its README install steps already ran)"
else
  rm -rf "$ROOT"
  cp -a "$BASE" "$ROOT"
fi
mount -t proc proc "$ROOT/proc"
mount -t sysfs sys "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"
mkdir -p "$CACHE/pip" "$ROOT/root/.cache/pip"
mount --bind "$CACHE/pip" "$ROOT/root/.cache/pip"   # wheels downloaded once
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
# a chroot must not start the daemons apt installs (exim4, cron): the usual policy-rc.d
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d" && chmod 755 "$ROOT/usr/sbin/policy-rc.d"
# pip (and apt over https) inside the chroot trust what the host trusts (an egress proxy's CA)
cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ltcn-host-ca.crt"
# "a copy of this repository": the tracked and untracked-but-not-ignored files
mkdir -p "$ROOT/root/ltcn"
(cd "$REPO" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$ROOT/root/ltcn" 2>/dev/null) \
  || (cd "$REPO" && tar --exclude=.venv --exclude=.git --exclude='__pycache__' -cf - . | tar -xf - -C "$ROOT/root/ltcn")
# the inputs where the unit's user can read them (/root is 0700)
rm -rf "$ROOT/srv/ltcn-stage" && cp -a "$STAGE" "$ROOT/srv/ltcn-stage"
rm -rf "$ROOT/srv/ltcn-stage/x86" && chmod -R a+rX "$ROOT/srv/ltcn-stage"

say "arm64: kernels/README.md's Pi section in the chroot (emulated: slow)"
"${NICE[@]}" chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root LANG=C.UTF-8 PIP_CERT=/etc/ltcn-host-ca.crt SSL_CERT_FILE=/etc/ltcn-host-ca.crt \
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 SKIP_INSTALL=$SKIP_INSTALL \
  /bin/bash /root/ltcn/experiments/aarch64/pi_steps.sh /srv/ltcn-stage /srv/ltcn-stage/arm64 \
  2>&1 | tee "$CACHE/pi_steps.log"
[ "${PIPESTATUS[0]}" = 0 ] || die "the Pi steps failed in the chroot; see $CACHE/pi_steps.log"
rm -rf "$STAGE/arm64" && cp -a "$ROOT/srv/ltcn-stage/arm64" "$STAGE/arm64"

# the unit file as systemd reads it (the chroot has no systemd running)
UNIT_CHECK="not checked (no systemd-analyze on the host)"
if command -v systemd-analyze >/dev/null; then
  unit="$REPO/kernels/gateway/ltcn-detect.service"
  if verify=$(systemd-analyze verify --man=no "$unit" 2>&1 | grep -v -e '/opt/ltcn/bin/ltcn' -e 'is not executable' -e 'Command .* not found' || true); [ -z "$verify" ]; then
    UNIT_CHECK="systemd-analyze verify: no problems (besides /opt/ltcn not existing on the host)"
  else
    UNIT_CHECK="systemd-analyze verify: $verify"
  fi
fi

cleanup
say "diagnosis: preprocessing and engine separately"
rm -f "$STAGE/diagnosis.json"
PYTHON=$PY AARCH64_CACHE=$CACHE bash "$REPO/experiments/aarch64/diagnose.sh" || say "diagnosis failed (parity still compared)"
say "comparing x86 and arm64 outputs"
"$PY" "$REPO/experiments/aarch64/parity.py" compare --stage "$STAGE" --out "$OUT" \
  --base-seconds "$T_BASE" --suite "$SUITE" --unit-check "$UNIT_CHECK" ${SKIP_INSTALL:+--reused}
