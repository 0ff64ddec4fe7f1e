"""A real browser against the JIT'd Mongoose: headless Chromium over the DevTools protocol.

The servers are profiles/mongoose.yaml (HTTP) and profiles/mongoose-tls.yaml (HTTPS),
each under a name of its own (its container must not collide with the tests of the
profile itself). Chromium opens the listing, which must render (DOM and pixels: the
screenshot is decoded and its ink counted), then a real mouse click on ``docs/`` must
lead to the docs listing (where the seeds' server failed) and a click on a file to its
bytes. Over HTTPS Chromium trusts exactly the generated certificate's key (SPKI pin),
shows the listing, and reports that certificate for the origin; without the pin it
refuses the page.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from crossjit.targets import tlscert
from tests.integration import cdp
from tests.integration import containers_env as env
from tests.integration.mongoose_server import Server, derived_profile, serving

pytestmark = pytest.mark.integration

WWW = env.REPO / "examples" / "mongoose" / "www"
SHOTS = "CROSSJIT_TEST_SCREENSHOTS"  # a folder to keep the screenshots in (to look at them)
TOP_ENTRIES = {"..", "index.txt", "hello.json", "docs/"}


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    cdp.chromium()
    folder = tmp_path_factory.mktemp("browser-http")
    profile = derived_profile(env.REPO / "profiles" / "mongoose.yaml", "mongoose-browser", folder)
    with serving(profile, "http", folder) as srv:
        yield srv


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    cdp.chromium()
    folder = tmp_path_factory.mktemp("browser-https")
    profile = derived_profile(env.REPO / "profiles" / "mongoose-tls.yaml",
                              "mongoose-tls-browser", folder)
    with serving(profile, "https", folder, "0", "/srv/tls") as srv:
        yield srv


def links(page: cdp.Page) -> set[str]:
    hrefs = page.evaluate("[...document.querySelectorAll('tbody a')]"
                          ".map(a => a.getAttribute('href'))")
    return set(hrefs)


def center_of_link(page: cdp.Page, href: str) -> tuple[float, float]:
    x, y = page.evaluate(
        "(() => { const a = [...document.querySelectorAll('a')]"
        f".find(a => a.getAttribute('href') === {href!r});"
        " const r = a.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    return float(x), float(y)


def click_link(page: cdp.Page, href: str) -> None:
    """A real mouse click on the link, and the page it leads to loaded."""
    x, y = center_of_link(page, href)
    page.browser.drop_events("Page.loadEventFired", page.session)
    page.click(x, y)
    page.wait_event("Page.loadEventFired")


def check_rendered(png: bytes, name: str, tmp_path: Path) -> None:
    """The screenshot shows a page of text and links, not a blank or an error page."""
    (tmp_path / name).write_bytes(png)
    if keep := os.environ.get(SHOTS):
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / name, Path(keep) / name)
    img = cdp.decode_png(png)
    assert (img.width, img.height) == cdp.VIEWPORT
    colours = Counter(img.pixels)
    total = len(img.pixels)
    assert colours.most_common(1)[0][0] == (255, 255, 255)  # the page's white background
    ink = total - colours[(255, 255, 255)]
    assert 0.002 * total < ink < 0.3 * total, f"{ink} of {total} pixels not white"
    dark = sum(n for (r, g, b), n in colours.items() if max(r, g, b) < 90)  # black text
    blue = sum(n for (r, g, b), n in colours.items() if b > 150 and r < 110 and g < 110)  # links
    assert dark > 400, f"only {dark} dark pixels: no text rendered"
    assert blue > 100, f"only {blue} blue pixels: no links rendered"
    assert len(colours) > 20  # anti-aliased text, not a flat fill


def test_listing_renders_and_a_click_lists_docs(http_server: Server, tmp_path: Path) -> None:
    with cdp.browser(tmp_path / "chromium") as browser:
        page = browser.new_page()
        page.navigate(http_server.base + "/")
        assert page.evaluate("document.title") == "Index of /"
        assert links(page) == TOP_ENTRIES
        check_rendered(page.screenshot(), "listing.png", tmp_path)

        click_link(page, "docs/")
        assert page.evaluate("location.href") == http_server.base + "/docs/"
        assert page.evaluate("document.title") == "Index of /docs/"
        assert links(page) == {"..", "notes.md"}
        check_rendered(page.screenshot(), "docs.png", tmp_path)

        click_link(page, "notes.md")
        assert page.evaluate("location.href") == http_server.base + "/docs/notes.md"
        shown = page.evaluate("document.body.innerText")
        assert shown.strip() == (WWW / "docs" / "notes.md").read_text().strip()
    log = http_server.stdout.read_text().splitlines()
    for line in ("GET /", "GET /docs/", "GET /docs/notes.md"):
        assert line in log


def spki_pin(server: Server) -> str:
    pem = (tlscert.folder(server.container) / "cert.pem").read_bytes()
    return cdp.spki_sha256(tlscert.der(pem))


def test_https_listing_with_the_generated_certificate(https_server: Server,
                                                      tmp_path: Path) -> None:
    pin = f"--ignore-certificate-errors-spki-list={spki_pin(https_server)}"
    with cdp.browser(tmp_path / "chromium", pin) as browser:
        page = browser.new_page()
        page.send("Network.enable")
        page.navigate(https_server.base + "/")
        assert page.evaluate("location.protocol") == "https:"
        assert page.evaluate("document.title") == "Index of /"
        assert links(page) == TOP_ENTRIES
        # The certificate Chromium got for this origin is the one crossjit made.
        chain = page.send("Network.getCertificate", origin=https_server.base)["tableNames"]
        pem = (tlscert.folder(https_server.container) / "cert.pem").read_bytes()
        assert base64.b64decode(chain[0]) == tlscert.der(pem)
        check_rendered(page.screenshot(), "https-listing.png", tmp_path)

        click_link(page, "docs/")
        assert page.evaluate("location.href") == https_server.base + "/docs/"
        assert links(page) == {"..", "notes.md"}


def test_https_without_the_pin_is_refused(https_server: Server, tmp_path: Path) -> None:
    with cdp.browser(tmp_path / "chromium") as browser:
        page = browser.new_page()
        reply = page.send("Page.navigate", url=https_server.base + "/")
        # A self-signed certificate nobody vouches for: the navigation fails.
        assert reply.get("errorText") == "net::ERR_CERT_AUTHORITY_INVALID", reply
        assert page.evaluate("document.title") != "Index of /"
