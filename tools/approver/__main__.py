"""`python -m tools.approver`: the approvers' command line (see tools/approver/__init__.py)."""

import sys

from tools.approver.cli import main

sys.exit(main())
