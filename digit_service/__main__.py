"""`python -m digit_service`: the `digits` command."""

import sys

from digit_service.cli import main

sys.exit(main())
