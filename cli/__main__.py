import sys

from emotrack.main import main

sys.exit(main())
