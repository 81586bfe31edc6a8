import sys

from safereturn.cli import main

sys.exit(main())
