"""Headless Chromium driven over the Chrome DevTools Protocol, with the stdlib only.

``Browser`` starts Debian's ``chromium`` on a fresh profile folder with its DevTools
endpoint on 127.0.0.1 (an ephemeral port, read from ``DevToolsActivePort``), speaks the
protocol over a minimal websocket client (RFC 6455: masked text frames out, unmasked
frames in) and attaches to one page in flattened session mode. Every wait has a deadline;
``close`` kills the browser's whole process group. ``decode_png`` reads the screenshots
(zlib + struct) so a test can look at pixels without an image library.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.prereq import missing

START_DEADLINE = 30.0
COMMAND_DEADLINE = 30.0
VIEWPORT = (1024, 768)

# Headless, as root (no sandbox), and quiet on a closed network: without the background
# flags Chromium keeps trying to reach Google's services. No name resolves either (the
# tests use 127.0.0.1 literally), so nothing it might still try leaves this machine.
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--disable-dev-shm-usage",
    "--disable-domain-reliability", "--disable-client-side-phishing-detection",
    "--disable-breakpad", "--no-pings",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--no-default-browser-check", "--password-store=basic", "--use-mock-keychain",
    "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
    "--window-size=1024,768", "--hide-scrollbars",
)


class CdpError(Exception):
    pass


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        missing("chromium not found on PATH (apt-get install chromium; scripts/bootstrap does)")
    return found


# --- websocket (client side, RFC 6455) -----------------------------------------------------


class WebSocket:
    def __init__(self, host: str, port: int, path: str, timeout: float) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise CdpError(f"websocket handshake: connection closed after {head!r}")
            head += chunk
        head, _, self._buf = head.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise CdpError(f"websocket handshake refused: {head.decode(errors='replace')}")

    def send(self, text: str) -> None:
        data = text.encode()
        n = len(data)
        if n < 126:
            header = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 1 << 16:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        mask = secrets.token_bytes(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(header + mask + body)

    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise CdpError("the browser closed the DevTools connection")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def recv(self) -> str:
        """One whole message (continuation frames joined); pings are answered."""
        parts: list[bytes] = []
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", self._read(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", self._read(8))
            mask = self._read(4) if b1 & 0x80 else b""
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            op = b0 & 0x0F
            if op == 0x8:
                raise CdpError("the browser closed the DevTools websocket")
            if op == 0x9:  # ping → pong (masked, as every client frame)
                m = secrets.token_bytes(4)
                self.sock.sendall(struct.pack("!BB", 0x8A, 0x80 | len(data)) + m
                                  + bytes(b ^ m[i % 4] for i, b in enumerate(data)))
                continue
            if op in (0x1, 0x2, 0x0):
                parts.append(data)
                if b0 & 0x80:
                    return b"".join(parts).decode()

    def close(self) -> None:
        self.sock.close()


# --- the protocol ---------------------------------------------------------------------------


@dataclass
class Page:
    browser: Browser
    session: str

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session)

    def wait_event(self, method: str, deadline: float = COMMAND_DEADLINE) -> dict[str, Any]:
        return self.browser.wait_event(method, self.session, deadline)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaiting promises)."""
        reply = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                          awaitPromise=True)
        if "exceptionDetails" in reply:
            raise CdpError(f"{expression!r} threw: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def navigate(self, url: str) -> None:
        """Open ``url`` and wait until its load event."""
        self.browser.drop_events("Page.loadEventFired", self.session)
        reply = self.send("Page.navigate", url=url)
        if reply.get("errorText"):
            raise CdpError(f"navigating to {url}: {reply['errorText']}")
        self.wait_event("Page.loadEventFired")

    def click(self, x: float, y: float) -> None:
        """A real mouse click (move, press, release) at viewport coordinates."""
        self.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                      clickCount=1)

    def screenshot(self) -> bytes:
        return base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])


class Browser:
    def __init__(self, profile_dir: Path, extra_flags: tuple[str, ...] = ()) -> None:
        profile_dir.mkdir(parents=True, exist_ok=True)
        self.log = profile_dir / "chromium.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [chromium(), *FLAGS, *extra_flags, f"--user-data-dir={profile_dir}",
                 "about:blank"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []
        try:
            port, path = self._endpoint(profile_dir / "DevToolsActivePort")
            self.ws = WebSocket("127.0.0.1", port, path, timeout=COMMAND_DEADLINE)
        except BaseException:
            self.close()
            raise

    def _endpoint(self, active: Path) -> tuple[int, str]:
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CdpError(f"chromium exited {self.proc.returncode} at start:\n"
                               f"{self.log.read_text(errors='replace')[-2000:]}")
            lines = active.read_text().split() if active.is_file() else []
            if len(lines) == 2:
                return int(lines[0]), lines[1]
            time.sleep(0.05)
        raise CdpError(f"chromium wrote no {active.name} within {START_DEADLINE:.0f} s")

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None) -> dict[str, Any]:
        """Send a command; its result (events arriving meanwhile are kept)."""
        msg_id = next(self._ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session is not None:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + COMMAND_DEADLINE
        while True:
            reply = self._next(deadline, method)
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise CdpError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self._events.append(reply)

    def _next(self, deadline: float, what: str) -> dict[str, Any]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CdpError(f"no answer to {what} within the deadline")
        self.ws.sock.settimeout(left)
        try:
            msg: dict[str, Any] = json.loads(self.ws.recv())
        except TimeoutError as exc:
            raise CdpError(f"no answer to {what} within the deadline") from exc
        return msg

    def drop_events(self, method: str, session: str | None) -> None:
        self._events = [e for e in self._events
                        if not (e["method"] == method and e.get("sessionId") == session)]

    def wait_event(self, method: str, session: str | None,
                   timeout: float = COMMAND_DEADLINE) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self._events):
                if ev["method"] == method and ev.get("sessionId") == session:
                    del self._events[i]
                    return ev
            msg = self._next(deadline, method)
            if "method" in msg:
                self._events.append(msg)

    def new_page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, session["sessionId"])
        page.send("Page.enable")
        page.send("Runtime.enable")
        # A fixed viewport: the window's size minus whatever the headless shell reserves
        # would vary between Chromium versions.
        page.send("Emulation.setDeviceMetricsOverride", width=VIEWPORT[0], height=VIEWPORT[1],
                  deviceScaleFactor=1, mobile=False)
        return page

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        if self.proc.poll() is None:
            # The renderer, GPU and utility processes are in its process group.
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@contextmanager
def browser(profile_dir: Path, *extra_flags: str) -> Iterator[Browser]:
    b = Browser(profile_dir, extra_flags)
    try:
        yield b
    finally:
        b.close()


# --- PNG ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    pixels: list[tuple[int, int, int]]  # RGB, row by row


def decode_png(data: bytes) -> Image:
    """8-bit RGB or RGBA PNGs (what Chromium writes), alpha dropped."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack("!I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack("!IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height, depth, ctype, _comp, _filt, interlace = header
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG (depth {depth}, colour type {ctype})")
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    for y in range(height):
        start = y * (stride + 1)
        ftype, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        pixels.extend((line[i], line[i + 1], line[i + 2]) for i in range(0, stride, bpp))
        prev = line
    return Image(width, height, pixels)


# --- certificates ----------------------------------------------------------------------------


def _tlv(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER element at ``pos``."""
    tag, n = der[pos], der[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(der[pos : pos + k], "big")
        pos += k
    return tag, pos, pos + n


def spki_sha256(cert_der: bytes) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)): what --ignore-certificate-errors-spki-list takes."""
    import hashlib

    _, tbs_at, _ = _tlv(cert_der, 0)  # Certificate ::= SEQUENCE { tbsCertificate, ... }
    _, pos, _ = _tlv(cert_der, tbs_at)  # tbsCertificate's first field
    if cert_der[pos] == 0xA0:  # [0] version (absent in v1 certificates)
        pos = _tlv(cert_der, pos)[2]
    for _field in ("serialNumber", "signature", "issuer", "validity", "subject"):
        pos = _tlv(cert_der, pos)[2]
    end = _tlv(cert_der, pos)[2]  # subjectPublicKeyInfo, tag and length included
    return base64.b64encode(hashlib.sha256(cert_der[pos:end]).digest()).decode()
