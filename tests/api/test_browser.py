"""A real browser (headless Chromium through Selenium) logs in and reads a chart.

Skips when no Chromium and chromedriver are installed (nothing is downloaded). The app
runs under uvicorn on a free local port, as ``medz1 serve`` runs it.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
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


def test_browser_logs_in_searches_and_reads_a_chart(clinic: Site, served: str) -> None:
    found = _browser()
    assert found is not None
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as ChromeService
    from selenium.webdriver.common.by import By

    binary, driver_path = found
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    email = clinic.create_user()
    icn, last, _ = a_patient(clinic)
    browser: Any = webdriver.Chrome(options=options, service=ChromeService(driver_path))
    try:
        browser.get(f"{served}/login")
        browser.find_element(By.NAME, "email").send_keys(email)
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "form.login button").click()
        assert browser.current_url.endswith("/patients")
        browser.find_element(By.NAME, "q").send_keys(last)
        browser.find_element(By.CSS_SELECTOR, "form.search button").click()
        browser.find_element(By.CSS_SELECTOR, f'a[href="/patients/{icn}"]').click()
        assert last in browser.find_element(By.TAG_NAME, "h1").text
        violations = [e for e in browser.get_log("browser") if "Content Security" in e["message"]]
        assert violations == []
    finally:
        browser.quit()
