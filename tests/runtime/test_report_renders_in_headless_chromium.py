"""The report of a real run with a failing step, opened from file:// in a real headless Chromium driven
by Selenium: every step is drawn and listed, the failed one is marked with its OML line, the numbers
the browser shows equal metrics.jsonl, and the console stays empty. A screenshot is written for people
to look at (the test's tmp dir, and $OSIRIS_REPORT_SCREENSHOT_DIR when set).

Needs Debian's `chromium` and `chromium-driver` and the `selenium` package (.ci/run installs them).
Without them the test skips, except under CI, where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.conftest import osiris_inproc
from tests.runtime.test_report_shows_the_graph_timeline_and_failing_oml_line import (
    BROKEN_AT,
    STEPS,
    metric_values,
    run_failing_pipeline,
    shown_number,
)

pytestmark = pytest.mark.browser


def _missing(what: str) -> None:
    message = f"{what} (apt-get install -y chromium chromium-driver; pip install selenium)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI=true: the browser test must run, see .ci/run", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as error:
        _missing(f"selenium is not installed: {error}")
    driver_path = shutil.which("chromedriver")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if driver_path is None or binary is None:
        _missing("chromium or chromedriver is not on PATH")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1800", "--disable-extensions"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(options=options, service=Service(driver_path))  # Selenium Manager not used
    try:
        yield chrome
    finally:
        chrome.quit()


def test_the_report_of_a_failed_run_in_chromium(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    session = run_failing_pipeline(tmp_path / "project")
    report = tmp_path / "report.html"
    result = osiris_inproc("report", "demo", "--out", str(report), cwd=tmp_path / "project")
    assert result.returncode == 0, result.stderr
    browser.get_log("browser")  # start from an empty console
    browser.get(report.as_uri())

    assert browser.title == "Osiris run demo"
    nodes = {n.get_attribute("data-step"): n for n in browser.find_elements(By.CSS_SELECTOR, "svg.dag g.node")}
    rows = {r.get_attribute("data-step"): r for r in browser.find_elements(By.CSS_SELECTOR, "#steps tbody tr")}
    assert sorted(nodes) == sorted(rows) == sorted(STEPS)
    for step_id in STEPS:
        assert nodes[step_id].is_displayed() and rows[step_id].is_displayed()
        assert nodes[step_id].find_element(By.TAG_NAME, "rect").size["width"] > 0
    assert nodes["broken"].get_attribute("data-status") == "failed"
    assert "failed" in rows["broken"].find_element(By.CSS_SELECTOR, ".badge").text
    # drawn red: the stylesheet applied, not just a class in the markup
    assert nodes["broken"].find_element(By.TAG_NAME, "rect").value_of_css_property("stroke") == "rgb(207, 34, 46)"
    assert BROKEN_AT in browser.find_element(By.CSS_SELECTOR, 'div.err[data-step="broken"] code.source').text

    for step_id, values in metric_values(session).items():
        for name, value in values.items():
            cell = rows[step_id].find_element(By.CSS_SELECTOR, f'td[data-metric="{name}"]')
            assert shown_number(cell.text) == value, (step_id, name, cell.text)
    bars = browser.find_elements(By.CSS_SELECTOR, "svg.timeline rect.bar")
    assert {b.get_attribute("data-step") for b in bars} == {"orders", "broken", "write-orders"}

    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if os.environ.get("OSIRIS_REPORT_SCREENSHOT_DIR"):
        keep = Path(os.environ["OSIRIS_REPORT_SCREENSHOT_DIR"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, keep / "report-failed-run.png")
    console = [entry for entry in browser.get_log("browser") if entry.get("level") in ("SEVERE", "WARNING")]
    assert console == []
