"""Label normalisation and grouping for the three datasets.

Raw labels are normalised to one spelling per attack (CICIDS2017's layouts and days spell the
same attack differently, and one copy stores the web-attack dash as mojibake); groups are the
coarse classes a detector is trained on. Unknown names are an error by default: a silent
"other" class hides a wrong file. Which normaliser, groups and benign class belong to which
dataset is the dataset registry's (:mod:`.datasets`).
"""

from __future__ import annotations

import re

from ..errors import DataFormatError

UNKNOWN_POLICIES = ("error", "drop", "keep")
# The group of a label the dataset's normaliser does not know (read with unknown_label="keep"):
# neither normal nor a known attack, so no attack-vs-normal figure counts it.
UNKNOWN_GROUP = "unknown"

# ----------------------------------------------------------------------------- NSL-KDD
# Attack name -> category, covering every name in KDDTrain+ and KDDTest+ (the 17 test-only
# attacks included). Follows the category assignment of the NSL-KDD/KDD'99 literature
# (Tavallaee et al. 2009; the DARPA 1998/1999 attack taxonomy).
NSL_KDD_CATEGORIES: dict[str, str] = {
    "normal": "normal",
    # DoS
    "back": "DoS", "land": "DoS", "neptune": "DoS", "pod": "DoS", "smurf": "DoS",
    "teardrop": "DoS", "apache2": "DoS", "mailbomb": "DoS", "processtable": "DoS",
    "udpstorm": "DoS",
    # Probe
    "ipsweep": "Probe", "nmap": "Probe", "portsweep": "Probe", "satan": "Probe",
    "mscan": "Probe", "saint": "Probe",
    # R2L
    "ftp_write": "R2L", "guess_passwd": "R2L", "imap": "R2L", "multihop": "R2L", "phf": "R2L",
    "spy": "R2L", "warezclient": "R2L", "warezmaster": "R2L", "named": "R2L",
    "sendmail": "R2L", "snmpgetattack": "R2L", "snmpguess": "R2L", "xlock": "R2L",
    "xsnoop": "R2L", "worm": "R2L",
    # U2R
    "buffer_overflow": "U2R", "loadmodule": "U2R", "perl": "U2R", "rootkit": "U2R",
    "httptunnel": "U2R", "ps": "U2R", "sqlattack": "U2R", "xterm": "U2R",
}
NSL_KDD_GROUPS = ("normal", "DoS", "Probe", "R2L", "U2R")

# -------------------------------------------------------------------------- CICIDS2017
CICIDS_GROUPS = (
    "BENIGN", "DoS", "DDoS", "PortScan", "Bot", "Brute Force", "Web Attack", "Infiltration",
    "Heartbleed", "Attempted",
)
# Canonical raw label -> group. Keys are the original CIC spellings.
CICIDS_LABELS: dict[str, str] = {
    "BENIGN": "BENIGN",
    "DoS Hulk": "DoS",
    "DoS GoldenEye": "DoS",
    "DoS slowloris": "DoS",
    "DoS Slowhttptest": "DoS",
    "DDoS": "DDoS",
    "PortScan": "PortScan",
    "Bot": "Bot",
    "FTP-Patator": "Brute Force",
    "SSH-Patator": "Brute Force",
    "Web Attack - Brute Force": "Web Attack",
    "Web Attack - XSS": "Web Attack",
    "Web Attack - Sql Injection": "Web Attack",
    "Infiltration": "Infiltration",
    "Heartbleed": "Heartbleed",
}
# Spelling variants (compared case-insensitively, blanks collapsed) -> canonical raw label.
_CICIDS_ALIASES = {k.lower(): k for k in CICIDS_LABELS}
_CICIDS_ALIASES.update(
    {
        "portscan": "PortScan",
        "botnet": "Bot",
        "ddos loit": "DDoS",
        "infiltration - portscan": "Infiltration",
        "benign": "BENIGN",
    }
)
# The dash between "Web Attack" and the attack name circulates as '–', '-', U+FFFD or as the
# double-encoded mojibake 'ï¿½'; any run of non-word characters matches.
_WEB_ATTACK = re.compile(r"^web attack\W+(brute force|xss|sql injection)$", re.IGNORECASE | re.ASCII)
_WEB_NAMES = {"brute force": "Brute Force", "xss": "XSS", "sql injection": "Sql Injection"}
# The improved release marks failed attempts as "<attack> - Attempted".
_ATTEMPTED = re.compile(r"^(.*?)\W+attempted$", re.IGNORECASE | re.ASCII)

# ----------------------------------------------------------------------------- BoT-IoT
BOT_IOT_GROUPS = ("Normal", "DDoS", "DoS", "Reconnaissance", "Theft")
_BOT_CATEGORIES = {g.lower(): g for g in BOT_IOT_GROUPS}
BOT_IOT_SUBCATEGORIES = (
    "Normal", "TCP", "UDP", "HTTP", "Service_Scan", "OS_Fingerprint", "Keylogging",
    "Data_Exfiltration", "Brute_Force",
)
# (Brute_Force is not in BoT-IoT: the lab's SSH password guessing, filed under Theft as the
# credential-stealing step of it; every BoT-IoT record maps as before.)
_BOT_SUBCATEGORIES = {s.lower(): s for s in BOT_IOT_SUBCATEGORIES}


def normal_index(dataset: str, classes) -> int | None:
    """Index of the benign class among a model's ``classes`` (grouped or raw: the benign raw
    label is spelled like its group), or None when the model has no benign class (or
    ``dataset`` is no registered dataset)."""
    # Here, not at the top: the registry imports this module for its normalisers.
    from .datasets import DATASETS

    entry = DATASETS.get(dataset)
    classes = list(classes)
    return classes.index(entry.normal) if entry is not None and entry.normal in classes else None


def _collapse(text: str) -> str:
    return " ".join(text.replace("\ufeff", "").split())


def normalize_nsl_kdd(raw: str) -> tuple[str, str] | None:
    """Map an NSL-KDD label to (attack name, category); None when the name is unknown."""
    name = _collapse(raw).lower().rstrip(".")
    category = NSL_KDD_CATEGORIES.get(name)
    return None if category is None else (name, category)


def normalize_cicids(raw: str) -> tuple[str, str] | None:
    """Map a CICIDS2017 label in any circulating spelling to (canonical label, group)."""
    text = _collapse(raw)
    attempted = _ATTEMPTED.match(text)
    if attempted:
        base = normalize_cicids(attempted.group(1))
        return None if base is None else (base[0] + " - Attempted", "Attempted")
    web = _WEB_ATTACK.match(text)
    if web:
        label = "Web Attack - " + _WEB_NAMES[web.group(1).lower()]
        return label, CICIDS_LABELS[label]
    label = _CICIDS_ALIASES.get(text.lower())
    return None if label is None else (label, CICIDS_LABELS[label])


def normalize_bot_iot(attack: str, category: str, subcategory: str) -> tuple[str, str] | None:
    """Map BoT-IoT's (attack, category, subcategory) to ("Category/Subcategory", category)."""
    cat = _BOT_CATEGORIES.get(_collapse(category).lower())
    sub = _BOT_SUBCATEGORIES.get(_collapse(subcategory).lower())
    flag = _collapse(attack)
    if cat is None or sub is None or flag not in ("0", "1"):
        return None
    if (flag == "0") != (cat == "Normal"):
        return None  # contradictory labels: treated like an unknown label
    return (cat if cat == sub else f"{cat}/{sub}"), cat


def check_policy(policy: str) -> str:
    if policy not in UNKNOWN_POLICIES:
        raise ValueError(
            f"unknown label policy {policy!r}; expected one of {', '.join(UNKNOWN_POLICIES)}"
        )
    return policy


def unknown_label_error(path: str, line: int, column: int, column_name: str, value: str):
    return DataFormatError(
        path,
        line,
        column,
        f"unknown label {value!r} in column {column_name!r} "
        "(use --unknown-label drop|keep to accept it)",
    )
