"""devbox: full-VM-style dev containers on your LAN in seconds."""

__version__ = "0.1.0"
