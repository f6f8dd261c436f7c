import sys

from respond.cli import main

sys.exit(main())
