"""The portal's production settings, routed through bench/webhook_floor.py (the portal's URLs
plus the receiver benchmark's durability floor)."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.webhook_floor"
