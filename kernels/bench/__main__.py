"""``python -m ltcn_kernels.bench``: the edge-only benchmark entry (no JAX needed)."""

import sys

from .harness import main

sys.exit(main())
