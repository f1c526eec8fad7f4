"""A real browser for the room's page (``live bench --room``'s screenshots, the page tests): Debian's
headless Chromium driven by selenium (the test extra), nothing downloaded.

Chromium on a closed network hangs unless its background services are off: the flags below do that,
and each browser gets a fresh profile folder. ``phone``/``projector`` set the page's size the way a
device does (a 390×844 phone at 3× with touch, a 1920×1080 projector), which a headless window cannot
be narrowed to on its own.

    with chromium() as browser:
        set_size(browser, PHONE)
        browser.get(url)
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio")


@dataclass(frozen=True)
class Size:
    width: int
    height: int
    scale: float = 1.0
    mobile: bool = False


PHONE = Size(390, 844, 3.0, True)
PROJECTOR = Size(1920, 1080)
LAPTOP = Size(1366, 768)


def available() -> str | None:
    """None when a browser can be started here, else what is missing."""
    if shutil.which(CHROMIUM) is None and shutil.which("chromium") is None:
        return "Debian's chromium is not installed (apt-get install chromium chromium-driver)"
    if shutil.which(CHROMEDRIVER) is None:
        return "chromium-driver is not installed (apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (the test extra)"
    return None


@contextmanager
def chromium(size: Size = PROJECTOR, *, reduced_motion: bool = False) -> Iterator:
    """A headless Chromium with a fresh profile, quit and removed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="live-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={max(size.width, 500)},{size.height}"):
        options.add_argument(flag)
    if reduced_motion:
        options.add_argument("--force-prefers-reduced-motion")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(30)
        set_size(driver, size)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def set_size(driver, size: Size) -> None:
    """Make the page see ``size`` (its CSS pixels, device scale and touch), as that device would."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": size.width, "height": size.height, "deviceScaleFactor": size.scale, "mobile": size.mobile})
    driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": size.mobile})


def screenshot(driver, path) -> None:
    """The page as the device shows it (at its device scale)."""
    import base64

    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})
    with open(path, "wb") as out:
        out.write(base64.b64decode(shot["data"]))
