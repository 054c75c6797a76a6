"""Shared test configuration: Hypothesis profiles and the ``reliability`` marker.

Hypothesis profiles, chosen with the ``HYPOTHESIS_PROFILE`` environment variable:

``dev`` (the default)
    50 examples per property that does not set its own ``max_examples``, so a local
    run stays quick.
``ci``
    1,000 examples per such property. Continuous integration runs with
    ``HYPOTHESIS_PROFILE=ci``; the differential properties in
    ``test_reliability_differential.py`` take their example count from it.

Properties that set ``max_examples`` themselves keep it under both profiles.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile("ci", max_examples=1000, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "reliability(row, *, input=None, mxnet=None, gluon_safe=None, role='gluon_safe'): "
        "a row of docs/reliability.md that this test backs. One test of each row gives the "
        "input and the behaviour of plain MXNet 1.9.1 and of gluon_safe; role='mxnet' marks "
        "a test that shows the plain MXNet behaviour. scripts/reliability_report.py "
        "collects the rows and the test results.",
    )
