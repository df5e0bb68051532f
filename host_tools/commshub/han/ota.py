"""The OTA Upgrade cluster (0x0019) client every emulated device runs.

The hub is the OTA server. The client asks for the next image (Query Next Image
with its manufacturer code, image type and running file version), fetches it in
blocks (Image Block Request at its offset, `block_size` bytes at most; WAIT_FOR_DATA
makes it wait as told; ABORT ends the transfer), then checks the file before it
says anything else:

- it is a well-formed GBCS image (commshub.images.gbcs.parse_image) of the size offered;
- its OTA header names this device's manufacturer code and image type, and the
  file version offered (checked as soon as the header has arrived, so a wrong image
  is refused without downloading the rest);
- its signature over the Manufacturer Image verifies with the device's trusted key,
  and, if the device was told which image to expect (`expect_hash`), the Manufacturer
  Image Hash is that one.

Refused: Upgrade End INVALID_IMAGE, `outcome` says why, the running version stays.
Accepted: Upgrade End SUCCESS; the server's Upgrade End Response says when to switch
(upgrade time 0 / <= current time: now; 0xFFFFFFFF: wait for another response);
at that (simulated) time the device's running version becomes the image's.

A sleepy device only moves while awake: its model calls `step(budget_s)` on each wake.
A transfer interrupted (no answer, device restart of the task) resumes at its offset:
an always-on device tries again `retries` times, `retry_s` (simulated) apart, as a
meter does when its server goes quiet; `starts` lists the offset each fetch began at.

`query_as` (manufacturer code, image type) makes the device ask for another device's
image while checking the header against its own identity: a misconfigured device,
to test how a server handles a refusal of an image the device was offered anyway.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec
from zigpy.ota.image import OTAImageHeader
import zigpy.types as t
from zigpy.zcl.clusters.general import Ota

from commshub.han import zcl
from commshub.han.runtime import version_text
from commshub.images import gbcs
from commshub.radio.device import Received

if TYPE_CHECKING:
    from commshub.han.runtime import HanDevice

OTA = int(Ota.cluster_id)
WAIT_FOREVER = 0xFFFFFFFF
UNKNOWN_SERVER = t.EUI64.convert("ff:ff:ff:ff:ff:ff:ff:ff")  # the spec's initial value
Status = zcl.Status
UpgradeStatus = Ota.ImageUpgradeStatus


class OtaClient:
    """One device's OTA client state (see the module docstring)."""

    def __init__(self, device: HanDevice, trusted_key: ec.EllipticCurvePublicKey, *,
                 block_size: int = 48, expect_hash: str | None = None, retries: int = 20,
                 retry_s: float = 2.0) -> None:
        self.device = device
        self.trusted_key = trusted_key
        self.block_size = block_size
        self.expect_hash = expect_hash
        self.retries = retries
        self.retry_s = retry_s
        self.query_as: tuple[int, int] | None = None
        self.starts: list[int] = []  # the offset each fetch began at
        self.blocks_asked = 0
        self._running: asyncio.Task[bool] | None = None
        self.offered: tuple[int, int] | None = None  # (file version, size)
        self.data = bytearray()
        self.status = UpgradeStatus.Normal
        self.outcome: str | None = None  # last result, for people and tests
        self.accepted_hash: str | None = None  # Manufacturer Image Hash of the image accepted
        self.history: list[str] = []
        self.notified = asyncio.Event()
        ident = device.identity
        store = device.server(Ota)
        store.set("upgrade_server_id", UNKNOWN_SERVER)
        store.set("file_offset", lambda: len(self.data))
        store.set("current_file_version", lambda: ident.file_version)
        store.set("downloaded_file_version", lambda: self.offered[0] if self.offered else 0xFFFFFFFF)
        store.set("image_upgrade_status", lambda: self.status)
        store.set("manufacturer_id", lambda: ident.manufacturer_code)
        store.set("image_type_id", lambda: ident.image_type)
        device.on(Ota, "image_notify", self._image_notify)
        device.on(Ota, "upgrade_end_response", self._late_upgrade_response)

    @property
    def progress(self) -> tuple[int, int]:
        """(bytes held, size offered)."""
        return len(self.data), self.offered[1] if self.offered else 0

    def _done(self, text: str) -> None:
        self.outcome = text
        self.history.append(text)
        self.device.note(f"OTA: {text}")

    async def _image_notify(self, frame: zcl.Frame, msg: Received) -> None:
        self.notified.set()
        if not self.device.sleepy and (self._running is None or self._running.done()):
            self._running = self.device.spawn(self.run())

    # -- the transfer ---------------------------------------------------------------
    async def query(self) -> bool:
        """Query Next Image; True when an image is offered (the download may then start)."""
        ident = self.device.identity
        asked = self.query_as or (ident.manufacturer_code, ident.image_type)
        rsp = await self.device.exchange(OTA, zcl.command(
            Ota, "query_next_image", self.device.next_tsn(), field_control=0,
            manufacturer_code=asked[0], image_type=asked[1], current_file_version=ident.file_version))
        self.notified.clear()
        if rsp.name != "query_next_image_response" or rsp.args.status != Status.SUCCESS:
            return False
        offer = (int(rsp.args.file_version), int(rsp.args.image_size))
        if (int(rsp.args.manufacturer_code), int(rsp.args.image_type)) != asked:
            await self._refuse("offered an image for another device "
                               f"({int(rsp.args.manufacturer_code):#06x}/{int(rsp.args.image_type):#06x})",
                               offer[0])
            return False
        if offer != self.offered:  # a new image (else: resume where we were)
            self.offered, self.data = offer, bytearray()
        self.status = UpgradeStatus.Download_in_progress
        return True

    async def fetch(self, budget_s: float | None = None, max_blocks: int | None = None) -> bool:
        """Fetch blocks until the image is complete (True), `budget_s` simulated seconds have
        passed or `max_blocks` blocks have come (False)."""
        assert self.offered is not None
        clock = self.device.clock
        deadline = None if budget_s is None else clock.now() + budget_s
        ident = self.device.identity
        version, size = self.offered
        asked = self.query_as or (ident.manufacturer_code, ident.image_type)
        blocks = 0
        self.starts.append(len(self.data))
        while len(self.data) < size:
            if deadline is not None and clock.now() >= deadline:
                return False
            if max_blocks is not None and blocks >= max_blocks:
                return False
            self.blocks_asked += 1
            rsp = await self.device.exchange(OTA, zcl.command(
                Ota, "image_block", self.device.next_tsn(), field_control=0,
                manufacturer_code=asked[0], image_type=asked[1], file_version=version, file_offset=len(self.data),
                maximum_data_size=min(self.block_size, size - len(self.data))))
            status = rsp.args.status if rsp.name in ("image_block_response", "Default_Response") else None
            if status == Status.WAIT_FOR_DATA:
                wait = int(rsp.args.request_time) - int(rsp.args.current_time)
                await clock.sleep(max(wait, int(rsp.args.minimum_block_period) / 1000.0))
                continue
            if status != Status.SUCCESS or rsp.name != "image_block_response":
                self.offered, self.data = None, bytearray()
                self.status = UpgradeStatus.Normal
                self._done(f"transfer aborted by the server ({status!r})")
                return False
            if int(rsp.args.file_offset) != len(self.data):
                continue  # a late answer to an earlier request: ask again
            self.data += bytes(rsp.args.image_data)
            blocks += 1
            wrong = self._header_problem()
            if wrong:
                await self._refuse(wrong, version)
                return False
        return True

    def _header_problem(self) -> str | None:
        """Why the OTA header (once we hold it) is not for us, or None."""
        try:
            hdr, _rest = OTAImageHeader.deserialize(bytes(self.data))
        except ValueError:
            if len(self.data) >= 4 and int.from_bytes(self.data[:4], "little") != gbcs.OTA_FILE_ID:
                return "not a Zigbee OTA file"
            return None  # not all of the header yet
        ident = self.device.identity
        assert self.offered is not None
        if int(hdr.manufacturer_id) != ident.manufacturer_code:
            return (f"wrong manufacturer {int(hdr.manufacturer_id):#06x} "
                    f"(this device is {ident.manufacturer_code:#06x})")
        if int(hdr.image_type) != ident.image_type:
            return f"wrong image type {int(hdr.image_type):#06x} (this device is {ident.image_type:#06x})"
        if int(hdr.file_version) != self.offered[0]:
            return (f"file version {int(hdr.file_version):#010x} is not the one offered "
                    f"({self.offered[0]:#010x})")
        return None

    def check(self) -> str | None:
        """Why the downloaded image must be refused, or None when it may be installed."""
        try:
            img = gbcs.parse_image(bytes(self.data))
        except gbcs.ImageFormatError as e:
            return f"not a GBCS image: {e}"
        problem = self._header_problem()
        if problem:
            return problem
        if not gbcs.verify(img, self.trusted_key):
            return "bad signature (not signed by a key this device trusts)"
        if self.expect_hash is not None and img.mi_hash != self.expect_hash.lower():
            return f"Manufacturer Image Hash {img.mi_hash[:16]}... is not the expected one"
        self.accepted_hash = img.mi_hash
        return None

    async def finish(self) -> bool:
        """Check the complete image and say so (Upgrade End); True when it will be installed."""
        assert self.offered is not None
        version = self.offered[0]
        problem = self.check()
        if problem:
            await self._refuse(problem, version)
            return False
        self.status = UpgradeStatus.Download_complete
        ident = self.device.identity
        rsp = await self.device.exchange(OTA, zcl.command(
            Ota, "upgrade_end", self.device.next_tsn(), status=Status.SUCCESS,
            manufacturer_code=ident.manufacturer_code, image_type=ident.image_type,
            file_version=version))
        if rsp.name != "upgrade_end_response":
            self._done(f"server answered Upgrade End with {rsp.name} {rsp.args!r}")
            return False
        await self._schedule(rsp.args)
        return True

    async def _refuse(self, why: str, version: int) -> None:
        ident = self.device.identity
        self.offered, self.data = None, bytearray()
        self.status = UpgradeStatus.Normal
        self._done(f"refused: {why}")
        try:
            await self.device.exchange(OTA, zcl.command(
                Ota, "upgrade_end", self.device.next_tsn(), status=Status.INVALID_IMAGE,
                manufacturer_code=ident.manufacturer_code, image_type=ident.image_type,
                file_version=version))
        except TimeoutError:
            pass  # the server need not answer a failure (a Default Response at most)

    async def _schedule(self, args: object) -> None:
        upgrade, now = int(args.upgrade_time), int(args.current_time)  # type: ignore[attr-defined]
        if upgrade == WAIT_FOREVER:
            self.status = UpgradeStatus.Waiting_to_upgrade
            self._done("image accepted, waiting for the server to say when")
            return
        self.status = UpgradeStatus.Count_down
        await self.device.clock.sleep(max(0, upgrade - now) if upgrade else 0)
        self._switch()

    async def _late_upgrade_response(self, frame: zcl.Frame, msg: Received) -> bytes | None:
        if self.status == UpgradeStatus.Waiting_to_upgrade and self.offered is not None \
                and int(frame.args.file_version) == self.offered[0]:
            self.device.spawn(self._schedule(frame.args))
        return None

    def _switch(self) -> None:
        assert self.offered is not None
        ident = self.device.identity
        old = ident.file_version
        ident.file_version = self.offered[0]
        self.offered, self.data = None, bytearray()
        self.status = UpgradeStatus.Normal
        self._done(f"upgraded {version_text(old)} -> {version_text(ident.file_version)} "
                   f"(image hash {self.accepted_hash})")

    async def run(self) -> bool:
        """Query, download, check, install (an always-on device); True when it upgraded.
        A request that gets no answer (the server restarted, the link went) is tried again
        from the top, up to `retries` times: the download resumes at the offset held."""
        for attempt in range(self.retries + 1):
            try:
                if not await self.query():
                    return False
                return await self.fetch() and await self.finish()
            except (TimeoutError, ConnectionError) as exc:
                if attempt == self.retries:
                    raise
                self.device.note(f"OTA: {exc!r}; again in {self.retry_s} s at offset {len(self.data)}")
                await self.device.clock.sleep(self.retry_s)
        return False

    async def step(self, budget_s: float, max_blocks: int | None = None) -> None:
        """A sleepy device's share of the work while it is awake (call once per wake)."""
        if self.offered is None and not await self.query():
            return
        if await self.fetch(budget_s, max_blocks):
            await self.finish()

