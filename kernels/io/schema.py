"""Published file layouts of NSL-KDD, CICIDS2017 and BoT-IoT, mapped to one canonical schema.

Every layout lists its columns in file order as ``(raw header name, canonical name, role)``.
Roles say what a column is for:

* ``feature``  -- numeric model feature (float32 feature matrix);
* ``category`` -- categorical model feature, one-hot encoded (protocol, service, flags, state);
* ``port``     -- a port number; ``Column.bucket`` ports become a one-hot feature over
  well-known ports (a port is a name, not a magnitude), the rest are metadata;
* ``label``    -- a label column;
* ``time``     -- capture time stamp (metadata, used for ordering);
* ``meta``     -- identifiers and sequence numbers (metadata: kept, reported, never a feature,
  because they leak labels -- e.g. pkSeqID ranges and Flow IDs identify attack sessions);
* ``skip``     -- dropped (CICIDS2017's duplicated ``Fwd Header Length``; BoT-IoT's MAC/OUI
  columns, empty in every published row).

The canonical feature order is fixed per dataset, so a model trained on one CICIDS2017 layout
applies to the others.
"""

from __future__ import annotations

from dataclasses import dataclass

FEATURE = "feature"
CATEGORY = "category"
PORT = "port"
LABEL = "label"
TIME = "time"
META = "meta"
META_TEXT = "meta_text"  # textual metadata (IP addresses, Flow IDs)
SKIP = "skip"
ROLES = (FEATURE, CATEGORY, PORT, LABEL, TIME, META, META_TEXT, SKIP)


@dataclass(frozen=True)
class Column:
    raw: str  # the header name as published (leading blanks stripped)
    name: str  # canonical name
    role: str
    bucket: bool = False  # PORT only: one-hot encode over well-known ports


@dataclass(frozen=True)
class Layout:
    dataset: str
    name: str
    columns: tuple[Column, ...]
    header: bool  # published files carry a header line
    pm_before_hour: int = 0  # see ltcn_kernels._csv.parse_time
    order_by: tuple[str, ...] = ()  # canonical metadata columns giving capture order
    description: str = ""

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.role == FEATURE)

    @property
    def categorical_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.role == CATEGORY)

    @property
    def bucketed_ports(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.role == PORT and c.bucket)

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.role == LABEL)

    @property
    def excluded(self) -> tuple[str, ...]:
        """Columns present in the file that never reach the model (leak/metadata/dropped)."""
        return tuple(
            c.raw
            for c in self.columns
            if c.role in (TIME, META, META_TEXT, SKIP) or (c.role == PORT and not c.bucket)
        )


# ----------------------------------------------------------------------------- NSL-KDD
_NSL_NAMES = (
    "duration protocol_type service flag src_bytes dst_bytes land wrong_fragment urgent hot "
    "num_failed_logins logged_in num_compromised root_shell su_attempted num_root "
    "num_file_creations num_shells num_access_files num_outbound_cmds is_host_login "
    "is_guest_login count srv_count serror_rate srv_serror_rate rerror_rate srv_rerror_rate "
    "same_srv_rate diff_srv_rate srv_diff_host_rate dst_host_count dst_host_srv_count "
    "dst_host_same_srv_rate dst_host_diff_srv_rate dst_host_same_src_port_rate "
    "dst_host_srv_diff_host_rate dst_host_serror_rate dst_host_srv_serror_rate "
    "dst_host_rerror_rate dst_host_srv_rerror_rate"
).split()
_NSL_CATEGORICAL = {"protocol_type", "service", "flag"}


def _nsl_columns(with_difficulty: bool) -> tuple[Column, ...]:
    cols = [Column(n, n, CATEGORY if n in _NSL_CATEGORICAL else FEATURE) for n in _NSL_NAMES]
    cols.append(Column("label", "label", LABEL))
    if with_difficulty:
        cols.append(Column("difficulty", "difficulty", META))
    return tuple(cols)


NSL_KDD = Layout(
    "nsl-kdd",
    "kdd-43",
    _nsl_columns(True),
    header=False,
    description="NSL-KDD text files: 41 features, label, difficulty; no header",
)
NSL_KDD_42 = Layout(
    "nsl-kdd",
    "kdd-42",
    _nsl_columns(False),
    header=False,
    description="NSL-KDD/KDD'99 without the difficulty column (41 features, label)",
)

# -------------------------------------------------------------------------- CICIDS2017
# Canonical names are the MachineLearningCVE names with leading blanks stripped.
_CIC_FEATURES = (
    "Flow Duration|Total Fwd Packets|Total Backward Packets|Total Length of Fwd Packets|"
    "Total Length of Bwd Packets|Fwd Packet Length Max|Fwd Packet Length Min|"
    "Fwd Packet Length Mean|Fwd Packet Length Std|Bwd Packet Length Max|Bwd Packet Length Min|"
    "Bwd Packet Length Mean|Bwd Packet Length Std|Flow Bytes/s|Flow Packets/s|Flow IAT Mean|"
    "Flow IAT Std|Flow IAT Max|Flow IAT Min|Fwd IAT Total|Fwd IAT Mean|Fwd IAT Std|Fwd IAT Max|"
    "Fwd IAT Min|Bwd IAT Total|Bwd IAT Mean|Bwd IAT Std|Bwd IAT Max|Bwd IAT Min|Fwd PSH Flags|"
    "Bwd PSH Flags|Fwd URG Flags|Bwd URG Flags|Fwd Header Length|Bwd Header Length|"
    "Fwd Packets/s|Bwd Packets/s|Min Packet Length|Max Packet Length|Packet Length Mean|"
    "Packet Length Std|Packet Length Variance|FIN Flag Count|SYN Flag Count|RST Flag Count|"
    "PSH Flag Count|ACK Flag Count|URG Flag Count|CWE Flag Count|ECE Flag Count|Down/Up Ratio|"
    "Average Packet Size|Avg Fwd Segment Size|Avg Bwd Segment Size|Fwd Header Length#2|"
    "Fwd Avg Bytes/Bulk|Fwd Avg Packets/Bulk|Fwd Avg Bulk Rate|Bwd Avg Bytes/Bulk|"
    "Bwd Avg Packets/Bulk|Bwd Avg Bulk Rate|Subflow Fwd Packets|Subflow Fwd Bytes|"
    "Subflow Bwd Packets|Subflow Bwd Bytes|Init_Win_bytes_forward|Init_Win_bytes_backward|"
    "act_data_pkt_fwd|min_seg_size_forward|Active Mean|Active Std|Active Max|Active Min|"
    "Idle Mean|Idle Std|Idle Max|Idle Min"
).split("|")


def _cic_feature_columns() -> list[Column]:
    cols = []
    for name in _CIC_FEATURES:
        if name == "Fwd Header Length#2":
            # The MachineLearningCVE/TrafficLabelling headers repeat ' Fwd Header Length'
            # (columns 34 and 55); the second is an exact copy, so it is dropped.
            cols.append(Column("Fwd Header Length", "Fwd Header Length (duplicate)", SKIP))
        else:
            cols.append(Column(name, name, FEATURE))
    return cols


CICIDS_MLCVE = Layout(
    "cicids2017",
    "machine-learning-cve",
    (
        Column("Destination Port", "Destination Port", PORT, bucket=True),
        *_cic_feature_columns(),
        Column("Label", "Label", LABEL),
    ),
    header=True,
    description="CICIDS2017 MachineLearningCVE: 79 columns, leading blanks, no identifiers",
)

CICIDS_TRAFFIC = Layout(
    "cicids2017",
    "traffic-labelling",
    (
        Column("Flow ID", "Flow ID", META_TEXT),
        Column("Source IP", "Source IP", META_TEXT),
        Column("Source Port", "Source Port", PORT),
        Column("Destination IP", "Destination IP", META_TEXT),
        Column("Destination Port", "Destination Port", PORT, bucket=True),
        Column("Protocol", "Protocol", META),
        Column("Timestamp", "Timestamp", TIME),
        *_cic_feature_columns(),
        Column("Label", "Label", LABEL),
    ),
    header=True,
    pm_before_hour=8,
    order_by=("Timestamp",),
    description="CICIDS2017 TrafficLabelling (GeneratedLabelledFlows): 85 columns",
)

# Renames of the 2022 DistriNet "improved" release (its name -> canonical name).
_IMPROVED_RENAMES = {
    "Total Fwd Packet": "Total Fwd Packets",
    "Total Bwd packets": "Total Backward Packets",
    "Total Length of Fwd Packet": "Total Length of Fwd Packets",
    "Total Length of Bwd Packet": "Total Length of Bwd Packets",
    "Packet Length Min": "Min Packet Length",
    "Packet Length Max": "Max Packet Length",
    "CWR Flag Count": "CWE Flag Count",
    "Fwd Segment Size Avg": "Avg Fwd Segment Size",
    "Bwd Segment Size Avg": "Avg Bwd Segment Size",
    "Fwd Bytes/Bulk Avg": "Fwd Avg Bytes/Bulk",
    "Fwd Packet/Bulk Avg": "Fwd Avg Packets/Bulk",
    "Fwd Bulk Rate Avg": "Fwd Avg Bulk Rate",
    "Bwd Bytes/Bulk Avg": "Bwd Avg Bytes/Bulk",
    "Bwd Packet/Bulk Avg": "Bwd Avg Packets/Bulk",
    "Bwd Bulk Rate Avg": "Bwd Avg Bulk Rate",
    "FWD Init Win Bytes": "Init_Win_bytes_forward",
    "Bwd Init Win Bytes": "Init_Win_bytes_backward",
    "Fwd Act Data Pkts": "act_data_pkt_fwd",
    "Fwd Seg Size Min": "min_seg_size_forward",
}
_IMPROVED_ORDER = (
    "Flow Duration|Total Fwd Packet|Total Bwd packets|Total Length of Fwd Packet|"
    "Total Length of Bwd Packet|Fwd Packet Length Max|Fwd Packet Length Min|"
    "Fwd Packet Length Mean|Fwd Packet Length Std|Bwd Packet Length Max|Bwd Packet Length Min|"
    "Bwd Packet Length Mean|Bwd Packet Length Std|Flow Bytes/s|Flow Packets/s|Flow IAT Mean|"
    "Flow IAT Std|Flow IAT Max|Flow IAT Min|Fwd IAT Total|Fwd IAT Mean|Fwd IAT Std|Fwd IAT Max|"
    "Fwd IAT Min|Bwd IAT Total|Bwd IAT Mean|Bwd IAT Std|Bwd IAT Max|Bwd IAT Min|Fwd PSH Flags|"
    "Bwd PSH Flags|Fwd URG Flags|Bwd URG Flags|Fwd RST Flags|Bwd RST Flags|Fwd Header Length|"
    "Bwd Header Length|Fwd Packets/s|Bwd Packets/s|Packet Length Min|Packet Length Max|"
    "Packet Length Mean|Packet Length Std|Packet Length Variance|FIN Flag Count|SYN Flag Count|"
    "RST Flag Count|PSH Flag Count|ACK Flag Count|URG Flag Count|CWR Flag Count|ECE Flag Count|"
    "Down/Up Ratio|Average Packet Size|Fwd Segment Size Avg|Bwd Segment Size Avg|"
    "Fwd Bytes/Bulk Avg|Fwd Packet/Bulk Avg|Fwd Bulk Rate Avg|Bwd Bytes/Bulk Avg|"
    "Bwd Packet/Bulk Avg|Bwd Bulk Rate Avg|Subflow Fwd Packets|Subflow Fwd Bytes|"
    "Subflow Bwd Packets|Subflow Bwd Bytes|FWD Init Win Bytes|Bwd Init Win Bytes|"
    "Fwd Act Data Pkts|Fwd Seg Size Min|Active Mean|Active Std|Active Max|Active Min|Idle Mean|"
    "Idle Std|Idle Max|Idle Min|ICMP Code|ICMP Type|Total TCP Flow Time"
).split("|")
# Columns the improved release added; absent from the original layouts, so they cannot be
# canonical features (a model must accept every layout). Kept as metadata.
_IMPROVED_EXTRA = {"Fwd RST Flags", "Bwd RST Flags", "ICMP Code", "ICMP Type", "Total TCP Flow Time"}


def _improved_feature_columns() -> list[Column]:
    cols = []
    for raw in _IMPROVED_ORDER:
        if raw in _IMPROVED_EXTRA:
            cols.append(Column(raw, raw, META))
        else:
            cols.append(Column(raw, _IMPROVED_RENAMES.get(raw, raw), FEATURE))
    return cols


CICIDS_IMPROVED = Layout(
    "cicids2017",
    "improved",
    (
        Column("id", "id", META),
        Column("Flow ID", "Flow ID", META_TEXT),
        Column("Src IP", "Source IP", META_TEXT),
        Column("Src Port", "Source Port", PORT),
        Column("Dst IP", "Destination IP", META_TEXT),
        Column("Dst Port", "Destination Port", PORT, bucket=True),
        Column("Protocol", "Protocol", META),
        Column("Timestamp", "Timestamp", TIME),
        *_improved_feature_columns(),
        Column("Label", "Label", LABEL),
        Column("Attempted Category", "Attempted Category", META),
    ),
    header=True,
    order_by=("Timestamp",),
    description="CICIDS2017 improved (DistriNet CNS2022 release): 91 columns",
)

# ----------------------------------------------------------------------------- BoT-IoT
_BOT_ENTIRE_SPEC = (
    ("pkSeqID", META),
    ("stime", TIME),
    ("flgs", CATEGORY),
    ("proto", CATEGORY),
    ("saddr", META_TEXT),
    ("sport", PORT),
    ("daddr", META_TEXT),
    ("dport", "bucket"),
    ("pkts", FEATURE),
    ("bytes", FEATURE),
    ("state", CATEGORY),
    ("ltime", META),
    ("seq", META),  # Argus sequence number: a capture counter, leaks attack sessions
    ("dur", FEATURE),
    ("mean", FEATURE),
    ("stddev", FEATURE),
    ("smac", SKIP),
    ("dmac", SKIP),
    ("sum", FEATURE),
    ("min", FEATURE),
    ("max", FEATURE),
    ("soui", SKIP),
    ("doui", SKIP),
    ("sco", SKIP),
    ("dco", SKIP),
    ("spkts", FEATURE),
    ("dpkts", FEATURE),
    ("sbytes", FEATURE),
    ("dbytes", FEATURE),
    ("rate", FEATURE),
    ("srate", FEATURE),
    ("drate", FEATURE),
    ("attack", LABEL),
    ("category", LABEL),
    ("subcategory", LABEL),
)
_BOT_10BEST_SPEC = (
    ("pkSeqID", META),
    ("proto", CATEGORY),
    ("saddr", META_TEXT),
    ("sport", PORT),
    ("daddr", META_TEXT),
    ("dport", "bucket"),
    ("seq", META),
    ("stddev", FEATURE),
    ("N_IN_Conn_P_SrcIP", FEATURE),
    ("min", FEATURE),
    ("state_number", FEATURE),
    ("mean", FEATURE),
    ("N_IN_Conn_P_DstIP", FEATURE),
    ("drate", FEATURE),
    ("srate", FEATURE),
    ("max", FEATURE),
    ("attack", LABEL),
    ("category", LABEL),
    ("subcategory", LABEL),
)


def _bot_columns(spec) -> tuple[Column, ...]:
    cols = []
    for name, role in spec:
        if role == "bucket":
            cols.append(Column(name, name, PORT, bucket=True))
        else:
            cols.append(Column(name, name, role))
    return tuple(cols)


BOT_IOT_ENTIRE = Layout(
    "bot-iot",
    "entire",
    _bot_columns(_BOT_ENTIRE_SPEC),
    header=False,
    order_by=("stime", "pkSeqID"),
    description="BoT-IoT full-feature schema (UNSW_2018_IoT_Botnet_Dataset_N.csv, 35 columns)",
)
BOT_IOT_10BEST = Layout(
    "bot-iot",
    "10-best",
    _bot_columns(_BOT_10BEST_SPEC),
    header=True,
    order_by=("pkSeqID",),
    description="BoT-IoT published 10-best feature subset (19 columns)",
)

# Which layouts belong to which dataset, and in which order detection tries them: the
# dataset registry (ltcn_kernels.io.datasets).

# Well-known destination ports kept as their own one-hot slot; everything else is "other".
# Chosen from the services present in the three datasets (web, mail, name/time services,
# Windows/SMB, databases, remote access, IoT messaging).
WELL_KNOWN_PORTS: tuple[int, ...] = (
    20, 21, 22, 23, 25, 53, 67, 68, 69, 80, 88, 110, 123, 135, 137, 138, 139, 143, 161, 162,
    389, 443, 445, 465, 514, 587, 631, 993, 995, 1433, 1883, 1900, 3306, 3389, 5353, 5355,
    5683, 8080, 8443, 8883,
)
