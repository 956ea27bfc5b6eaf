"""How hard the race, churn and fuzz tests push.

The default run (the README's test command) is quick: every race still runs, for
a shorter time. ``SYSVSHM_STRESS=1`` (``tox -e stress``, which ``.ci/run`` runs)
runs them longer than the default ever did, to find rarer interleavings.
"""
import os

FULL = os.environ.get("SYSVSHM_STRESS", "") == "1"


def scaled(full, quick):
    """``full`` under SYSVSHM_STRESS=1, else ``quick``."""
    return full if FULL else quick
