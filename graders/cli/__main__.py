"""`python -m graders.cli ...` is `tcplab ...`."""

import sys

from graders.cli.main import main

sys.exit(main())
