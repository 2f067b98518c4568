"""A stateful emulator of Calendly's API v2 and OAuth server, for the demo and the tests.

sandbox = seeded(Sandbox(members=30, seed=1))
server = SandboxServer(sandbox).start()   # server.url, sandbox.owner_token, ...
server.stop()
"""

from portal.sandbox.seed import seeded
from portal.sandbox.server import SandboxServer
from portal.sandbox.state import Sandbox

__all__ = ["Sandbox", "SandboxServer", "seeded"]
