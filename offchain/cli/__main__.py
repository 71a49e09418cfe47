"""``python -m offchain.cli``: the ``ballast`` command."""

import sys

from offchain.cli import main

sys.exit(main())
