"""Every dashboard page in headless Chromium, as a person sees it: a screenshot of each (in a temp dir,
or docs/ with RESPOND_SCREENSHOTS=1) and the layout facts a regression would break: charts titled
with units, the last x label inside its chart and naming the window's end, a long `previous` id kept
inside the summary column, rows of one second in a stable order, the usage page's chart and tables,
and the admin seeing every key's files and vector stores.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.test_dashboard_browser import CHROMIUM, DRIVER, browser, shot, sign_in  # noqa: F401 - the fixture

pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="needs Debian's chromium and chromium-driver (scripts/install-test-deps.sh)")
PAGES = ("responses", "runs", "conversations", "files", "vector_stores", "charts", "usage")


def box(driver: Any, el: Any) -> dict[str, float]:
    rect: dict[str, float] = driver.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top, "
        "bottom: r.bottom, width: r.width};", el)
    return rect


@pytest.fixture
def site(server_factory: Any, upstream: Any) -> Any:
    return server_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "1",
                          "--api-key", "key-a", "--admin-key", "admin-secret")


def test_every_page_as_a_person_sees_it(site: Any, browser: Any, tmp_path: Path) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    base = f"http://127.0.0.1:{site.port}"
    admin = httpx.Client(base_url=base, headers={"Authorization": "Bearer admin-secret"})
    made = admin.post("/admin/v1/keys", json={"label": "team blue", "limits": {"rpm": 100}}).json()
    a, tenant = site.client(api_key="key-a"), site.client(api_key=made["key"])
    first = a.responses.create(model="scripted", input="first of a chain")
    second = a.responses.create(model="scripted", input="continue", previous_response_id=first.id)
    burst = [a.responses.create(model="scripted", input=f"same second {i}") for i in range(4)]
    for i in range(3):
        tenant.responses.create(model="scripted", input=f"tenant {i}")
    upload = tenant.files.create(file=("notes.txt", io.BytesIO(b"tenant notes"), "text/plain"), purpose="assistants")
    store = tenant.vector_stores.create(name="tenant store")

    sign_in(browser, base, "admin-secret")
    for page in PAGES:
        browser.get(f"{base}/dashboard/{page}")
        assert browser.find_element(By.TAG_NAME, "h1").text, page
        shot(browser, tmp_path, f"page-{page}.png")

    # rows made in the same second: one stable order (newest first, then by id), the same on every load
    browser.get(f"{base}/dashboard/responses")
    order = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#responses tbody tr td:first-child a")]
    browser.refresh()
    assert [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#responses tbody tr td:first-child a")] == order
    created = {r.id: r.created_at for r in (first, second, *burst)}
    mine = [rid for rid in order if rid in created]
    assert mine == sorted(mine, key=lambda rid: (-created[rid], [-ord(c) for c in rid]))

    # the admin sees every key's files and vector stores
    browser.get(f"{base}/dashboard/files")
    assert upload.id in browser.find_element(By.TAG_NAME, "main").text
    browser.get(f"{base}/dashboard/vector_stores")
    assert store.id in browser.find_element(By.TAG_NAME, "main").text
    browser.get(f"{base}/dashboard/vector_stores/{store.id}")
    assert browser.find_element(By.TAG_NAME, "h1").text

    # a response whose `previous` id is long: the summary table stays inside its column
    browser.get(f"{base}/dashboard/responses/{second.id}")
    summary = browser.find_element(By.CSS_SELECTOR, ".cols > section:first-child")
    items = browser.find_element(By.CSS_SELECTOR, ".cols > section:nth-child(2)")
    link = browser.find_element(By.XPATH, f"//table[contains(@class,'kv')]//a[text()='{first.id}']")
    s, col, ln = box(browser, summary), box(browser, items), box(browser, link)
    assert ln["right"] <= s["right"] + 0.5 and s["right"] <= col["left"], (ln, s, col)
    shot(browser, tmp_path, "page-response.png")
    browser.set_window_size(900, 860)  # narrower still: the id wraps instead
    ln, col = box(browser, link), box(browser, items)
    assert ln["right"] <= col["left"], (ln, col)
    shot(browser, tmp_path, "page-response-narrow.png")
    browser.set_window_size(1360, 860)

    # charts: a visible title and unit each; x labels inside the chart; the last one is the window's end
    browser.get(f"{base}/dashboard/charts?hours=24")
    now = time.time()
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) == 3
    for chart in charts:
        title = chart.find_element(By.CSS_SELECTOR, ".chart-title").text
        unit = chart.find_element(By.CSS_SELECTOR, ".chart-unit").text
        assert title and unit, chart.get_attribute("aria-label")
        c = box(browser, chart)
        for label in chart.find_elements(By.CSS_SELECTOR, ".x-label"):
            lb = box(browser, label)
            assert c["left"] <= lb["left"] and lb["right"] <= c["right"], (label.text, lb, c)
    units = [c.find_element(By.CSS_SELECTOR, ".chart-unit").text for c in charts]
    assert units[0].startswith("requests per") and units[1].startswith("tokens per") and units[2] == "seconds"
    last = charts[0].find_elements(By.CSS_SELECTOR, ".x-label")[-1].text
    ends = {time.strftime("%m-%d %H:%M", time.gmtime(now + d)) for d in range(-120, 121, 60)}
    assert last in ends, (last, ends)

    # usage: a titled chart and the tables, the tenant key by its label, its tokens as stored
    browser.get(f"{base}/dashboard/usage?days=7")
    chart = browser.find_element(By.CSS_SELECTOR, "svg.chart")
    assert chart.find_element(By.CSS_SELECTOR, ".chart-title").text == "Tokens per day"
    assert chart.find_element(By.CSS_SELECTOR, ".chart-unit").text == "tokens per UTC day"
    days = [x.text for x in chart.find_elements(By.CSS_SELECTOR, ".x-label")]
    assert days[-1] == time.strftime("%m-%d", time.gmtime(now)) and len(days) == 3  # today, named
    c = box(browser, chart)
    for label in chart.find_elements(By.CSS_SELECTOR, ".x-label"):
        lb = box(browser, label)
        assert c["left"] <= lb["left"] and lb["right"] <= c["right"], (label.text, lb, c)
    main = browser.find_element(By.TAG_NAME, "main").text
    assert made["id"] in main and "team blue" in main
    usage = admin.get("/admin/v1/usage", params={"group_by": "key", "key": made["id"]}).json()
    assert usage["data"][0]["requests"] == 3
    row = browser.find_element(By.XPATH, f"//table[contains(@class,'usage')]//tr[td[contains(., '{made['id']}')]]")
    assert row.find_elements(By.TAG_NAME, "td")[1].text == "3"
    shot(browser, tmp_path, "page-usage.png")
