"""Firmware images: the hub's app bundle, the GBCS image around it, keys."""
