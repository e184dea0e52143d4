"""The HTML access report as a person uses it (issue 24): opened in a real headless browser
(Debian's chromium, driven through chromedriver by Selenium), rows read, a table sorted and
filtered, no console error and no network request, a screenshot kept in test-artifacts/; and
the 10k-user x 20-prefix report (bench/report.py's) painted and filtered in the same browser.

The seed scenario comes from memory (the seam the unit tests use); the lab's own report is
opened the same way in test_report_lab.py. With CI=true a browser that does not start fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import REPO

ARTIFACTS = REPO / "test-artifacts"  # screenshots (the `browser` fixture is in conftest.py)


def open_page(driver: Any, page: Path) -> None:
    driver.get_log("browser")  # drop what an earlier page logged
    driver.get_log("performance")
    driver.get(page.as_uri())


def requests_made(driver: Any) -> tuple[list[str], list[str]]:
    """The URLs the page asked for, from chromium's DevTools log: those that went out, and
    those its Content-Security-Policy blocked (chromium logs both as requests)."""
    urls, blocked = {}, set()
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        params = msg.get("params", {})
        if msg["method"] == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
        elif msg["method"] == "Network.loadingFailed" and params.get("blockedReason") == "csp":
            blocked.add(params["requestId"])
    return [u for r, u in urls.items() if r not in blocked], [u for r, u in urls.items() if r in blocked]


def rows(driver: Any, table: str) -> list[list[str]]:
    script = f"""return Array.from(document.querySelectorAll('#{table} tbody tr'))
        .filter(r => !r.hidden).map(r => Array.from(r.cells).map(c => c.innerText));"""
    return list(driver.execute_script(script))


def type_filter(driver: Any, table: str, text: str) -> None:
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.CSS_SELECTOR, f'input[data-table="{table}"]')
    box.clear()
    box.send_keys(text)


def test_the_report_is_usable_in_a_browser(browser: Any, tmp_path: Path) -> None:
    from seed_fixture import seed_directory
    from selenium.webdriver.common.by import By
    from test_sync_outcomes import kit

    from dirkit import MemorySource

    k = kit(
        tmp_path,
        MemorySource(seed_directory()),
        report={"s3_paths": ["s3://dirkit-default-bucket/", "s3://other-bucket/"]},
    )
    k.sync()
    page = tmp_path / "report.html"
    page.write_text(k.report().to_html())
    open_page(browser, page)
    assert "Who can reach what" in browser.title + browser.page_source
    users = {r[0]: r for r in rows(browser, "users-table")}
    heads = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#users-table thead th")]
    bucket = heads.index("s3://dirkit-default-bucket/")
    assert users["dataeng1"][bucket] == "dirkit-data-engineering #1"  # a group mapping, before the prefix one
    assert users["datascientist1"][bucket] == "dirkit-default-bucket #2"
    assert users["datascientist1"][heads.index("s3://other-bucket/")] == "EMR_EC2_DefaultRole"  # no mapping
    assert "grp_analytics via grp_data_science" in users["datascientist1"][2]

    # Sort by user, descending on the second click; then filter.
    head = browser.find_element(By.CSS_SELECTOR, "#users-table thead th")
    head.click()
    names = [r[0] for r in rows(browser, "users-table")]
    assert names == sorted(names)
    head.click()
    assert [r[0] for r in rows(browser, "users-table")] == sorted(names, reverse=True)
    assert head.get_attribute("aria-sort") == "descending"
    type_filter(browser, "users-table", "data engineering")
    assert {r[0] for r in rows(browser, "users-table")} == {"dataeng1"}
    count = browser.find_element(By.CSS_SELECTOR, 'span[data-count="users-table"]').text
    assert count == f"1 of {len(names)} rows"
    type_filter(browser, "groups-table", "grp_analytics")
    (group,) = rows(browser, "groups-table")
    assert group[0] == "grp_analytics" and group[2] == "datascientist1"
    # The nesting graph: an SVG with an arrow from grp_data_science to grp_analytics.
    titles = browser.execute_script(
        "return Array.from(document.querySelectorAll('svg line title')).map(t => t.textContent)"
    )
    assert "grp_data_science is a member of grp_analytics" in titles

    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "report.png"))
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    assert requests_made(browser) == ([page.as_uri()], [])


def test_a_page_that_tries_a_fetch_is_refused_by_its_own_policy(browser: Any, tmp_path: Path) -> None:
    # The Content-Security-Policy is what makes "no network request" hold for any content: a
    # script the page did not ship (here: one AD data could never inject, since every value is
    # escaped) is refused, and so is an image from the network.
    from dirkit._report import AccessReport
    from dirkit._report_html import render

    html = render(AccessReport({"generated": "now"}, (), (), {}, {}))
    page = tmp_path / "hostile.html"
    page.write_text(
        html.replace(
            "</body>", '<img src="http://127.0.0.1:9/x.png"><script>fetch("http://127.0.0.1:9/")</script></body>'
        )
    )
    open_page(browser, page)
    time.sleep(0.5)
    sent, blocked = requests_made(browser)
    assert sent == [page.as_uri()] and blocked == ["http://127.0.0.1:9/x.png"]
    assert any("Content Security Policy" in e["message"] for e in browser.get_log("browser"))


def test_ten_thousand_users_paint_and_filter(browser: Any, tmp_path: Path) -> None:
    page = tmp_path / "r10k.html"
    bench = subprocess.run(
        [sys.executable, str(REPO / "bench" / "report.py"), "--html-out", str(page)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert bench.returncode == 0, bench.stderr
    size_mb = page.stat().st_size / 1e6
    assert size_mb <= 20
    open_page(browser, page)
    paint = browser.execute_script(
        "return performance.getEntriesByType('paint').map(p => [p.name, p.startTime])"
        ".concat([['load', performance.timing.loadEventEnd - performance.timing.navigationStart]])"
    )
    timings = dict(paint)
    print(
        f"10k users x 20 prefixes: HTML {size_mb:.1f} MB, first paint {timings.get('first-paint', -1):.0f} ms, "
        f"first contentful paint {timings.get('first-contentful-paint', -1):.0f} ms, load {timings['load']:.0f} ms"
    )
    assert "first-contentful-paint" in timings
    assert len(rows(browser, "users-table")) == 10_000
    t0 = time.monotonic()
    type_filter(browser, "users-table", "user4242 ")
    assert [r[0] for r in rows(browser, "users-table")] == ["user4242"]
    print(f"filtering 10,000 rows: {time.monotonic() - t0:.2f} s")
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
