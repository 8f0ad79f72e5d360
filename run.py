#!/usr/bin/env python3
"""Run the bots in config.yaml. ``python run.py --help`` lists the commands."""

import sys

from bots.cli import main

if __name__ == "__main__":
    sys.exit(main())
