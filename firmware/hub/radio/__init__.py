"""Zigbee radio layer: ASH link framing and EZSP frames for a Silicon Labs NCP."""

# A slot stores the modules of every subpackage in one directory, hub/m (fewer littlefs
# directories: docs/IMAGES.md, section 3); in the source tree this is a normal package.
__path__ = globals().get("__path__") or __file__[:__file__.rfind("/")] + "/m"
