"""``ukscp`` with every logger at DEBUG, as an integrator chasing a fault would run it.

Run as ``python tests/e2e/ukscp_at_debug.py run ...`` (the same arguments as ``ukscp``).
"""

import logging
import sys

from ukscp.cli import main

if __name__ == "__main__":
    # Before the CLI's own set-up, which keeps the first configuration it finds.
    log_format = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.DEBUG, format=log_format)
    sys.argv[0] = "ukscp"
    main()
