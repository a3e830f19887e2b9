"""`python -m ivr` is the `ivr` command."""

import sys

from ivr.cli.main import main

sys.exit(main())
