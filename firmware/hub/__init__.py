"""The Communications Hub firmware package.

Layers talk one way: links (bytes) -> codecs (messages) -> services (state and
rules) -> command front-ends. Nothing here imports a link from a service.
"""

FW_VERSION = "0.1.0"
