"""A real browser (headless Chromium through Selenium) logs in and reads a chart.

Skips when no Chromium and chromedriver are installed (nothing is downloaded). The app
runs under uvicorn on a free local port, as ``medz1 serve`` runs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.api.conftest import PASSWORD, Site, a_patient

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _browser() -> tuple[str, str] | None:
    binary = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    return (binary, driver) if binary and driver else None


pytestmark = [
    pytest.mark.db,
    pytest.mark.api,
    pytest.mark.slow,
    pytest.mark.skipif(_browser() is None, reason="no Chromium and chromedriver installed"),
]


@pytest.fixture
def served(clinic: Site) -> Iterator[str]:
    """The clinic's app under uvicorn in a thread; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(clinic.client.app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _shoot(browser: Any, folder: Path, name: str) -> None:
    """Save a screenshot as a test artifact (``BROWSER_SCREENSHOTS`` names a kept folder)."""
    browser.save_screenshot(str(folder / f"{name}.png"))


def test_browser_logs_in_searches_and_reads_a_chart(
    clinic: Site, served: str, tmp_path: Path
) -> None:
    found = _browser()
    assert found is not None
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as ChromeService
    from selenium.webdriver.common.by import By

    shots = Path(os.environ.get("BROWSER_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    binary, driver_path = found
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    email = clinic.create_user()
    icn, last, _ = a_patient(clinic)
    browser: Any = webdriver.Chrome(options=options, service=ChromeService(driver_path))
    try:
        browser.get(f"{served}/login")
        _shoot(browser, shots, "1-login")
        browser.find_element(By.NAME, "email").send_keys(email)
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "form.login button").click()
        assert browser.current_url.endswith("/patients")
        browser.find_element(By.NAME, "q").send_keys(last)
        browser.find_element(By.CSS_SELECTOR, "form.search button").click()
        _shoot(browser, shots, "2-search")
        browser.find_element(By.CSS_SELECTOR, f'a[href="/patients/{icn}"]').click()
        assert last in browser.find_element(By.TAG_NAME, "h1").text
        _shoot(browser, shots, "3-dashboard")
        browser.find_element(By.CSS_SELECTOR, f'a[href="/patients/{icn}/vitals"]').click()
        assert browser.current_url.endswith(f"/patients/{icn}/vitals")
        _shoot(browser, shots, "4-vitals")
        browser.find_element(By.CSS_SELECTOR, 'form[action="/logout"] button').click()
        assert "/login" in browser.current_url
        _shoot(browser, shots, "5-logged-out")
        browser.get(f"{served}/patients/{icn}")
        assert "/login" in browser.current_url  # the ended session reads nothing
        # No console error: a CSP violation or a failed request (a 4xx/5xx sub-resource)
        # is logged by Chromium at level SEVERE.
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    finally:
        browser.quit()
