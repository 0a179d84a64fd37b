"""confsvc: agenda-driven video conferences with a live question queue and written answers."""

__version__ = "0.1.0"
