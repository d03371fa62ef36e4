#!/bin/bash
# Inside the clean arm64 chroot: kernels/README.md's "Running the gateway on a Raspberry Pi 4" section,
# step by step as written (as root, so without `sudo`), then the edge commands of edge_run.sh.
#   pi_steps.sh STAGE OUTDIR
set -euo pipefail
S=$1 O=$2
mkdir -p "$O"
T=$O/steps.tsv; : > "$T"
step() { local name=$1; shift; echo "+ $*" >&2; local t0; t0=$(date +%s.%N)
  "$@"; printf '%s\t%s\n' "$name" "$(echo "$(date +%s.%N) - $t0" | awk '{print $1 - $3}')" >> "$T"; }

export DEBIAN_FRONTEND=noninteractive
# --- README: on the Pi
if [ -z "${SKIP_INSTALL:-}" ]; then
step apt_update apt-get update -q
step apt_install apt-get install -y -q python3-venv argus-server argus-client nftables
cd /root   # the copy of this repository is ./ltcn
step venv python3 -m venv /opt/ltcn
step pip_install_edge /opt/ltcn/bin/pip install -q "./ltcn[edge]"
step useradd useradd --system --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin ltcn
step install_unit install -m 0644 ltcn/kernels/gateway/ltcn-detect.service /etc/systemd/system/ltcn-detect.service
else
  cd /root
  echo "SKIP_INSTALL: apt, venv, pip, useradd, unit already done in this root file system" >&2
  install -m 0644 ltcn/kernels/gateway/ltcn-detect.service /etc/systemd/system/ltcn-detect.service
  step pip_reinstall_ltcn /opt/ltcn/bin/pip install -q --no-deps --force-reinstall "./ltcn"  # this checkout
  rm -rf /var/log/ltcn /var/log/ltcn-new /etc/ltcn
  find /opt/ltcn -name '*.nbi' -delete -o -name '*.nbc' -delete  # compile cold again
fi
rm -rf /var/cache/ltcn
# --- README: the model from the training machine (and the public half of its signing key)
step install_key install -D -m 0644 "$S"/trusted-keys/*.pub -t /etc/ltcn/trusted-keys/
step install_model install -D -m 0644 "$S/bot.ltcn" /etc/ltcn/gateway.ltcn

# What `systemctl start ltcn-detect` would do, without systemd (a chroot): the unit's
# directories, then ExecStartPre and a bounded ExecStart as the unit's user, with its
# Environment. The live interface and --apply are replaced by the capture (no firewall change).
unit=/etc/systemd/system/ltcn-detect.service
user=$(sed -n 's/^User=//p' $unit)
for d in Logs Cache; do
  name=$(sed -n "s/^${d}Directory=//p" $unit)
  base=/var/log; [ $d = Cache ] && base=/var/cache
  install -d -o "$user" -g "$user" -m 0750 "$base/$name"
done
envs=$(sed -n 's/^Environment=//p' $unit)
pre=$(sed -n 's/^ExecStartPre=//p' $unit)
as_user() { setpriv --reuid "$user" --regid "$user" --clear-groups env -i PATH=/usr/bin:/bin HOME=/nonexistent $envs "$@"; }
step unit_warmup_cold as_user $pre 2> "$O/unit_warmup.txt"
step unit_warmup_cached as_user $pre 2>> "$O/unit_warmup.txt"
step unit_detect as_user /opt/ltcn/bin/ltcn detect --model /etc/ltcn/gateway.ltcn --source "$S/synscan.pcap" \
  --alerts /var/log/ltcn/alerts.jsonl --alerts-max-bytes 67108864 --firewall nftables --threshold 0.3 --stats-every 0 \
  > "$O/unit_nft.jsonl" 2> "$O/unit_detect.txt"
cp /var/log/ltcn/alerts.jsonl "$O/unit_alerts.jsonl"

# The failure modes of issue 15, checked as a user would meet them
{
  # no writable Numba cache (a system user without a home, no NUMBA_CACHE_DIR)
  setpriv --reuid "$user" --regid "$user" --clear-groups env -i PATH=/usr/bin:/bin HOME=/nonexistent \
    /opt/ltcn/bin/ltcn warmup --model /etc/ltcn/gateway.ltcn > /dev/null 2> "$O/nocache.txt"; echo "nocache_rc=$?"
  # a training command in the edge install
  /opt/ltcn/bin/ltcn export /tmp/none --out /tmp/x.ltcn 2> "$O/missing_extra.txt"; echo "export_rc=$?"
  # a wrong interface name
  /opt/ltcn/bin/ltcn detect --model /etc/ltcn/gateway.ltcn --interface nosuch0 --max-seconds 5 2> "$O/bad_iface.txt"; echo "bad_iface_rc=$?"
  # an alert directory that does not exist yet
  rm -rf /var/log/ltcn-new
  /opt/ltcn/bin/ltcn detect --model /etc/ltcn/gateway.ltcn --source "$S/data_t_subset.csv" \
    --alerts /var/log/ltcn-new/alerts.jsonl --stats-every 0 2> /dev/null; echo "new_alert_dir_rc=$? $(test -e /var/log/ltcn-new/alerts.jsonl && echo created)"
} > "$O/failure_modes.txt" 2>&1 || true

/opt/ltcn/bin/python - > "$O/versions.json" <<'PY'
import json, platform, sys
import llvmlite, numba, numpy
from llvmlite import binding as ll
from numba.core import config
from importlib.metadata import version
print(json.dumps({
    "machine": platform.machine(), "python": sys.version.split()[0],
    "os": open("/etc/debian_version").read().strip(),
    "numpy": numpy.__version__, "numba": numba.__version__, "llvmlite": llvmlite.__version__,
    "ltcn": version("ltcn"), "llvm_triple": ll.get_process_triple(),
    "llvm_host_cpu": ll.get_host_cpu_name(), "numba_cpu_name": config.CPU_NAME,
    "installed_mb": round(sum(f.stat().st_size for f in __import__("pathlib").Path("/opt/ltcn").rglob("*") if f.is_file()) / 1e6, 1),
}))
PY
PATH=/opt/ltcn/bin:$PATH NUMBA_NUM_THREADS=1 bash /root/ltcn/experiments/aarch64/edge_run.sh "$S" "$O"
