"""The servers the lab's benign traffic talks to, each a real daemon in its own namespace:

- gateway: dnsmasq (DNS for the ``.lab`` names, and DHCP: the devices renew their leases) and
  chronyd (NTP, ``-x``: it never touches the machine's clock);
- cloud: mosquitto (MQTT broker), an HTTP server (status API and firmware images) and a TLS
  server (openssl s_server);
- home server (hub): OpenSSH's sshd (key log-ins for admin sessions; the password brute force
  attack meets its password prompt) and an HTTP server (web UI);
- each device (and the cloud): a CoAP server (libcoap); each device: an HTTP server (its web UI).

:class:`Services` writes their configuration into a scratch folder, starts them, waits until
each listens, and stops them all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from .topology import CLOUD, GATEWAY_LAN, HUB, LabError, Topology

FIRMWARE_SIZES = (64 << 10, 256 << 10, 1 << 20)  # bytes: small, medium, large update images
TOOLS = {  # program -> Debian package (the Makefile's system-deps installs them)
    "tcpdump": "tcpdump", "mosquitto": "mosquitto", "mosquitto_pub": "mosquitto-clients",
    "coap-server-notls": "libcoap3-bin", "coap-client-notls": "libcoap3-bin",
    "dnsmasq": "dnsmasq-base", "dig": "bind9-dnsutils", "chronyd": "chrony", "ping": "iputils-ping",
    "busybox": "busybox",
    "sshd": "openssh-server", "ssh": "openssh-client", "ssh-keygen": "openssh-client",
    "curl": "curl", "socat": "socat", "openssl": "openssl", "hping3": "hping3", "nmap": "nmap", "hydra": "hydra",
    "slowhttptest": "slowhttptest",
}


def find_tool(name: str) -> str:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    found = shutil.which(name, path=path)
    if found is None:
        raise LabError(f"the lab needs {name} (`apt install {TOOLS.get(name, name)}`, or "
                       "`make system-deps` as root)")
    return found


def missing_tools() -> list[str]:
    """The lab's programs that are not installed (empty when the lab can run)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return [t for t in TOOLS if shutil.which(t, path=path) is None]


class Services:
    """Start the lab's servers in ``topology`` with their files under ``scratch``."""

    def __init__(self, topology: Topology, scratch: Path, seed: int):
        self.t, self.dir, self.rng = topology, Path(scratch), np.random.default_rng(seed)
        self.procs: list[subprocess.Popen] = []
        self.ssh_key = self.dir / "admin_key"
        self.wordlist = self.dir / "passwords.txt"
        self.exfil_file = self.dir / "exfil.bin"

    # -- files -------------------------------------------------------------------------------
    def _write_files(self) -> None:
        d, rng = self.dir, self.rng
        www = d / "cloud-www"
        (www / "api").mkdir(parents=True)
        (www / "firmware").mkdir()
        (www / "api" / "status.json").write_text('{"ok": true, "config_version": 7}\n')
        for i, size in enumerate(FIRMWARE_SIZES):
            (www / "firmware" / f"fw-{i}.bin").write_bytes(rng.bytes(size))
        ui = d / "device-www"
        ui.mkdir()
        (ui / "index.html").write_text("<html><body><h1>sensor</h1></body></html>\n")
        (ui / "metrics.json").write_text('{"temp": 21.5, "rh": 40}\n')
        self.exfil_file.write_bytes(rng.bytes(4 << 20))
        # passwords the brute force tries: none is a password of this machine (log-in by
        # password is refused for the lab's only user, root, whose password is never set here)
        self.wordlist.write_text("\n".join(f"pw{rng.integers(1 << 40):x}" for _ in range(400)))
        (d / "hosts").write_text(
            "".join(f"{h.address} {h.name}.lab\n" for h in self.t.hosts)
            + f"{GATEWAY_LAN} gw.lab ntp.lab\n"
        )
        (d / "mosquitto.conf").write_text(
            "listener 1883 0.0.0.0\nallow_anonymous true\npersistence false\nlog_dest none\n"
            "max_connections -1\n"
        )
        (d / "chrony.conf").write_text(
            f"pidfile {d}/chronyd.pid\ndriftfile {d}/chrony.drift\ncmdport 0\n"
            f"bindaddress {GATEWAY_LAN}\nallow 198.18.0.0/15\nlocal stratum 8\n"
        )
        subprocess.run([find_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f",
                        str(d / "host_key")], check=True)
        subprocess.run([find_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f",
                        str(self.ssh_key)], check=True)
        shutil.copy(f"{self.ssh_key}.pub", d / "authorized_keys")
        os.chmod(d / "authorized_keys", 0o600)
        (d / "sshd_config").write_text(
            f"Port 22\nListenAddress {HUB}\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n"
            f"AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin yes\n"
            "PasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM no\n"
            "StrictModes no\nMaxStartups 64:30:128\nMaxAuthTries 6\nLoginGraceTime 10\n"
        )
        subprocess.run([find_tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                        "/CN=cloud.lab", "-keyout", str(d / "tls.key"), "-out", str(d / "tls.crt")],
                       check=True, capture_output=True)
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory

    # -- processes ---------------------------------------------------------------------------
    def _start(self, host: str, argv: list[str]) -> None:
        log = open(self.dir / f"{host}-{Path(argv[0]).name}.log", "wb")
        self.procs.append(subprocess.Popen(
            self.t.exec_argv(host, argv), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        ))
        log.close()

    def start(self) -> Services:
        self._write_files()
        d, py = self.dir, sys.executable
        http = [py, "-m", "http.server", "--directory"]
        self._start("gw", [find_tool("dnsmasq"), "--keep-in-foreground", "--no-resolv",
                           "--no-hosts", f"--addn-hosts={d}/hosts", f"--listen-address={GATEWAY_LAN}",
                           "--bind-interfaces", f"--pid-file={d}/dnsmasq.pid", "--user=root",
                           "--log-facility=-", "--cache-size=0",
                           # DHCP over the devices' own addresses: each asks for its own (-r), which it
                           # already answers pings on (--no-ping: offer it all the same)
                           f"--dhcp-range={self.t.device_hosts[0].address},"
                           f"{self.t.device_hosts[-1].address},255.255.255.0,10m",
                           f"--dhcp-leasefile={d}/dnsmasq.leases", "--dhcp-authoritative",
                           "--no-ping"])
        self._start("gw", [find_tool("chronyd"), "-d", "-x", "-f", str(d / "chrony.conf")])
        self._start("cloud", [find_tool("mosquitto"), "-c", str(d / "mosquitto.conf")])
        self._start("cloud", [*http, str(d / "cloud-www"), "--bind", CLOUD, "8080"])
        self._start("cloud", [find_tool("openssl"), "s_server", "-quiet", "-www", "-accept",
                              f"{CLOUD}:443", "-cert", str(d / "tls.crt"), "-key", str(d / "tls.key")])
        self._start("hub", [find_tool("sshd"), "-D", "-e", "-f", str(d / "sshd_config")])
        self._start("hub", [*http, str(d / "device-www"), "--bind", HUB, "80"])
        coap = find_tool("coap-server-notls")
        self._start("cloud", [coap, "-A", CLOUD])
        for dev in self.t.device_hosts:
            self._start(dev.name, [coap, "-A", dev.address])
            self._start(dev.name, [*http, str(d / "device-www"), "--bind", dev.address, "80"])
        self._wait_listening()
        return self

    def _wait_listening(self, timeout: float = 15.0) -> None:
        """Until every TCP server accepts a connection (probed from the gateway namespace)."""
        checks = [f"{CLOUD}:1883", f"{CLOUD}:8080", f"{CLOUD}:443", f"{HUB}:22", f"{HUB}:80",
                  *(f"{d.address}:80" for d in self.t.device_hosts)]
        probe = subprocess.run(
            self.t.exec_argv("gw", [sys.executable, "-c", _PROBE, str(timeout), *checks]),
            capture_output=True, text=True, check=False,
        )
        dead = [p.args[4:] for p in self.procs if p.poll() is not None]
        if probe.returncode != 0 or dead:
            why = f"{dead[0]} exited" if dead else f"{probe.stdout.strip()} did not answer"
            raise LabError(f"a lab server did not start ({why}; logs in {self.dir})")

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, 15)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                p.wait()
        self.procs.clear()


_PROBE = """
import socket, sys, time
deadline = time.monotonic() + float(sys.argv[1])
for target in sys.argv[2:]:
    host, port = target.rsplit(":", 1)
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                print(target)
                sys.exit(1)
            time.sleep(0.05)
"""
