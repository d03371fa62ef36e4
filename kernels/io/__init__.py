"""Reading flow records: the dataset layouts, the one-pass Numba CSV parser, label tables,
the Argus flow-meter bridge for packet captures, and ``ltcn data summary``."""
