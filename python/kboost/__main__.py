import sys

from kboost.cli import main

sys.exit(main())
