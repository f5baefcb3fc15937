"""`python -m harness`: see runner.py (called by tests/sumo/run)."""

from .runner import main

main()
