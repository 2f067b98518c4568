"""The portal's production settings, with one extra route for the benchmark's baseline page."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
