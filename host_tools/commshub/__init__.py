"""commshub: host tools for the GB smart-metering Communications Hub emulator."""

__version__ = "0.1.0"
