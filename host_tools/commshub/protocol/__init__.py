"""The control-plane wire protocol, host side (docs/PROTOCOL.md)."""
