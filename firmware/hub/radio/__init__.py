"""Zigbee radio layer: ASH link framing and EZSP frames for a Silicon Labs NCP."""
