import sys

from hinge.cli import main

sys.exit(main())
