"""Settings for every test.

Hypothesis fails an example that takes over 200 ms by default: a timed assertion, which on a
loaded two-core machine fails correct code. Speed is measured by the benchmarks in bench/, so
the property tests here check behaviour only.
"""

from hypothesis import settings

settings.register_profile("ivr", deadline=None)
settings.load_profile("ivr")
