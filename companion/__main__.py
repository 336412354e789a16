"""``python -m companion``: the same as the ``companion`` command."""

import sys

try:
    from companion.cli import main
except KeyboardInterrupt:  # Ctrl-C before the command has even loaded
    sys.exit(130)

sys.exit(main())
