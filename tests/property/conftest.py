"""Hypothesis settings for the property suite: bounded examples, no deadline (the machine is
shared), and derandomized under CI so a red build replays the same examples."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "osiris",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("osiris-ci", parent=settings.get_profile("osiris"), derandomize=True,
                          print_blob=True)
settings.load_profile("osiris-ci" if os.environ.get("CI") else "osiris")
