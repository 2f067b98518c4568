"""pytest fixtures for the Calendly sandbox (filled in with the sandbox itself)."""
