"""A stateful emulator of Calendly's API and OAuth server, for the demo and the tests."""
