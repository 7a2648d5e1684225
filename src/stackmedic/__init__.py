"""stackmedic: diagnose, repair and verify failing Docker Compose stacks."""

__version__ = "0.1.0"
