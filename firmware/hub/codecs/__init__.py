"""Codecs: bytes <-> messages, no state beyond one decoder's buffers."""
