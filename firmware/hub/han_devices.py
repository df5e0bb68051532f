"""Wiring of the services for the HAN's devices (issue 5; docs/RADIO.md, "HAN services"),
called by hub.radio_app once the radio stack exists.

Every service is made on first use, and the commands' modules are loaded with
each of their commands (each name is registered with a small trampoline) and
dropped after it: a running HAN holds only the ASH/EZSP host, the network, the
device log's joins and gate, and this. Reads come on the first han.read; the
ZCL servers (Basic, Time) on the first request to them; the device images and
the OTA server on the first frame on the OTA cluster or han.image / han.ota
command, so a hub whose devices never upgrade never holds their code; the Gas
Proxy Function on the first frame on Metering or Tunneling, han.gsme command or
read of a GSME; the PPMID's passage to the ESME (hub.services.prepay) on the first
frame on Prepayment.
"""

from hub import forget
from hub.services.logbuf import log

SE_PROFILE = 0x0109
HA_PROFILE = 0x0104
BASIC = 0x0000
TIME = 0x000A
OTA = 0x0019
METERING = 0x0702
TUNNELING = 0x0704
PREPAYMENT = 0x0705
_GSME = 0  # device log type
# The commands and the module of each (hub.control.<module>): command han.X.Y is its function
# X_Y(svc, args, data). Names only here: answering them loads nothing until one comes.
_COMMANDS = (("han_commands", ("han.status", "han.log", "han.log.add", "han.log.remove", "han.devices", "han.send")),
             ("han_device_commands", ("han.read", "han.image.list", "han.image.remove", "han.image.offer",
                                      "han.image.block", "han.image.abort", "han.ota.status", "han.ota.notify",
                                      "han.gsme.queue", "han.gsme.status")))
_GPF_OPS = "hub.services.gpf_ops"
# What the commands load for themselves, dropped with them.
_TRANSIENT = ("hub.services.device_log_edit", _GPF_OPS)


class HanDevices:
    """The services of the HAN's devices, the rarely used ones made on demand."""

    def __init__(self, app, han, devlog):
        self.app = app
        self.han = han
        self.devlog = devlog
        self._reads = None
        self._images = None
        self._ota = None
        self._gpf = None
        self._zcl = None
        self._prepay = None
        self._tsn = 0
        self._readers = 0  # reads under way (Reads stays while any is)
        r = han.receivers
        r[(SE_PROFILE, OTA)] = self._ota_frame
        r[(SE_PROFILE, METERING)] = self._gpf_frame
        r[(SE_PROFILE, TUNNELING)] = self._gpf_frame
        r[(SE_PROFILE, PREPAYMENT)] = self._prepay_frame
        for profile in (SE_PROFILE, HA_PROFILE):  # Smart Energy, and Home Automation for generic tools
            r[(profile, BASIC)] = self._zcl_frame
            r[(profile, TIME)] = self._zcl_frame

    def next_tsn(self):
        """A ZCL sequence number for a request from the hub (one sequence for all its services)."""
        self._tsn = (self._tsn + 1) & 0xFF
        return self._tsn

    def reads(self):
        if self._reads is None:
            from hub.services.han_reads import Reads

            self._reads = Reads(self.han, self.devlog, self.next_tsn)  # hooks the HAN's answers to the hub's requests
            self._reads.mirror = self
        return self._reads

    def drop_reads(self):
        """Drop Reads' code when no read is under way (it comes back with the next one)."""
        if self._reads is not None and not self._readers:
            self.han.responses = None
            self._reads = None
            forget("hub.services.han_reads")

    def reading(self, coro):
        """A read (a coroutine of Reads) counted as under way from now until it ends, then Reads dropped if idle."""
        self._readers += 1
        return self._reading(coro)

    async def _reading(self, coro):
        try:
            return await coro
        finally:
            self._readers -= 1
            self.drop_reads()

    def device(self, eui):
        """The log entry of joined device `eui` (any spelling of 16 hex digits); errors if not."""
        try:
            return self.reads().device(eui)
        finally:
            self.drop_reads()

    def zcl(self):
        if self._zcl is None:
            from hub.services.zcl_servers import ZclServers

            a = self.app
            self._zcl = ZclServers(self.han, a.clock, a.system.fw_version, log)  # takes over the receivers
        return self._zcl

    def _zcl_frame(self, node, eui, aps, payload):
        return self.zcl()._request(node, eui, aps, payload)

    def images(self):
        if self._images is None:
            from hub.services.han_images import DeviceImages

            self._images = DeviceImages(self.app.store.dir, self.app.bus, log)  # in data/han_img
        return self._images

    def ota(self):
        if self._ota is None:
            from hub.services.ota_server import OtaServer

            a = self.app
            self._ota = OtaServer(self.han, self.images(), a.clock, a.bus, log, self.next_tsn)
        return self._ota

    def _ota_frame(self, node, eui, aps, payload):
        self.ota().frame(node, eui, aps, payload)

    def gpf(self):
        if self._gpf is None:
            from hub.services.gpf import Gpf

            a = self.app
            self._gpf = Gpf(self.han, self.devlog, a.store, a.clock, a.bus, log)  # takes over the receivers
        return self._gpf

    def _gpf_frame(self, node, eui, aps, payload):
        e = self.devlog._find(eui)
        if e is None or e[1] != _GSME:
            return False  # not the GPF's: the HAN service shows it as han.rx
        self.gpf()
        return self.han.receivers[(SE_PROFILE, aps[1])](node, eui, aps, payload)

    def _prepay_frame(self, node, eui, aps, payload):
        if self._prepay is None:
            from hub.services.prepay import Prepay

            self._prepay = Prepay(self.han, self.devlog, self.app.bus, log, self.next_tsn)
        return self._prepay.frame(node, eui, aps, payload)

    def read(self, entry, cluster, attrs):
        """Reads' mirror: a GSME is read from the GPF, others (None) from the device."""
        if entry[1] != _GSME:
            return None
        from hub.services import gpf_ops

        try:
            return gpf_ops.read(self.gpf(), entry, cluster, attrs)
        finally:
            forget(_GPF_OPS)

    def command(self, name):
        """The registry's handler for han.* command `name` (None: no such command): its module
        is loaded when the command comes and dropped after it (a Later keeps what it needs)."""
        for module, names in _COMMANDS:
            if name in names:
                break
        else:
            return None

        def h(args, data):
            path = "hub.control." + module
            try:
                fn = getattr(__import__(path, None, None, ("_",)), name[4:].replace(".", "_"))
                return fn(self, args, data)
            finally:
                forget(path)
                for m in _TRANSIENT:
                    forget(m)
        return h


def start(app, han, devlog):
    """Make the HAN's device services and answer every han.* command (through the registry's fallback)."""
    svc = HanDevices(app, han, devlog)
    app.reg.fallback = svc.command
    return svc
