import sys

from traybell.cli import main

sys.exit(main())
