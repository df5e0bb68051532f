"""Host-side links to a hub: serial (pyserial) and MQTT (paho-mqtt)."""
