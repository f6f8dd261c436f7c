"""The dashboard in a real headless browser (Debian's chromium, driven by Selenium and chromedriver).

Sign in with a key, filter by metadata, open a response with a tool call, follow its chain,
cancel a background run; another key's response never shows; a script in metadata stays text.
The screenshot README shows (docs/dashboard.png) is made here.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.test_background import SLOW, wait_status

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="needs Debian's chromium and chromium-driver (scripts/install-test-deps.sh)")
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'


@pytest.fixture
def browser():
    from selenium import webdriver

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM or ""  # the module is skipped without it
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1360,860", "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=DRIVER))
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture
def site(server_factory, upstream):
    return server_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "1",
                          "--api-key", "key-a", "--api-key", "key-b", "--admin-key", "admin-secret")


def wait_for_url(driver, part: str, timeout: float = 15) -> None:
    """A click that submits a form or follows a link returns before the new page is there: wait for it."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(expected_conditions.url_contains(part))


def sign_in(driver, base: str, key: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/dashboard/")
    assert driver.current_url.endswith("/dashboard/signin")
    driver.find_element(By.NAME, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "form.signin button").click()
    wait_for_url(driver, "/dashboard/responses")
    assert driver.current_url.endswith("/dashboard/responses")


def shot(driver, tmp_path: Path, name: str) -> None:
    """Screenshots go to docs/ (README shows them) with RESPOND_SCREENSHOTS=1, else to a temp dir."""
    folder = ROOT / "docs" if os.environ.get("RESPOND_SCREENSHOTS") else tmp_path
    folder.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(folder / name))


def test_dashboard_in_a_browser(site, upstream, browser, tmp_path):
    from selenium.webdriver.common.by import By

    base = f"http://127.0.0.1:{site.port}"
    a, b = site.client(api_key="key-a"), site.client(api_key="key-b")
    upstream.reply({"tool_calls": [{"name": "lookup", "arguments": '{"city": "Paris"}'}]})
    first = a.responses.create(model="scripted", input="weather in Paris?", metadata={"team": "red", "note": XSS},
                               tools=[{"type": "function", "name": "lookup", "parameters": {"type": "object"}}])
    call = first.output[0]
    second = a.responses.create(model="scripted", previous_response_id=first.id, metadata={"team": "blue"},
                                input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    other = b.responses.create(model="scripted", input="key b's secret", metadata={"team": "red"})
    # long enough to still be running when the test reaches the runs page on a loaded machine (two
    # screenshots and six navigations first); the cancel below ends it at once
    upstream.reply({**SLOW, "chunk_delay": 1.5})
    run = a.responses.create(model="scripted", input="a long one", background=True)
    wait_status(a, run.id, {"in_progress"})

    sign_in(browser, base, "key-a")
    cookies = {c["name"]: c for c in browser.get_cookies()}
    session = cookies["respond_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and "key-a" not in session["value"]
    page = browser.page_source
    assert first.id in page and second.id in page and run.id in page
    assert other.id not in page  # another key's response never appears

    # the XSS payload is shown as text, never run
    assert browser.execute_script("return window.__xss === undefined")
    assert "<script>window.__xss=1</script>" in browser.find_element(By.ID, "responses").text
    shot(browser, tmp_path, "dashboard.png")

    # filter by metadata
    browser.find_element(By.NAME, "meta").send_keys("team=red")
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait_for_url(browser, "meta=team")
    rows = browser.find_elements(By.CSS_SELECTOR, "#responses tbody tr")
    assert [r.find_element(By.TAG_NAME, "a").text for r in rows] == [first.id]

    # open the response with the tool call, follow the chain to its continuation and back
    browser.find_element(By.LINK_TEXT, first.id).click()
    wait_for_url(browser, f"/dashboard/responses/{first.id}")
    assert "tool call: lookup" in browser.find_element(By.TAG_NAME, "main").text
    shot(browser, tmp_path, "dashboard-response.png")
    assert browser.execute_script("return window.__xss === undefined")
    browser.find_element(By.CSS_SELECTOR, "nav.chain a.next").click()
    wait_for_url(browser, second.id)
    assert browser.current_url.endswith(f"/dashboard/responses/{second.id}")
    assert "sunny" in browser.find_element(By.TAG_NAME, "main").text
    browser.find_element(By.CSS_SELECTOR, "nav.chain a.prev").click()
    wait_for_url(browser, f"/dashboard/responses/{first.id}")
    assert browser.current_url.endswith(f"/dashboard/responses/{first.id}")

    # cancel the background run from the runs page (the confirm dialog accepted)
    browser.get(f"{base}/dashboard/runs")
    row = browser.find_element(By.XPATH, f"//tr[td/a[text()='{run.id}']]")
    row.find_element(By.TAG_NAME, "button").click()
    browser.switch_to.alert.accept()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not browser.current_url.endswith("/dashboard/runs"):
        time.sleep(0.1)
    assert a.responses.retrieve(run.id).status == "cancelled"

    # the admin key sees every owner
    browser.delete_all_cookies()
    sign_in(browser, base, "admin-secret")
    assert other.id in browser.page_source and first.id in browser.page_source


def csrf_field(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:300]
    return found.group(1)


def test_access_rules_without_a_browser(site):
    base = f"http://127.0.0.1:{site.port}/dashboard"
    with httpx.Client(base_url=base) as web:
        assert web.get("/responses").status_code == 303  # to the sign-in page
        form = web.get("/signin")
        csrf = csrf_field(form.text)  # bound to the pre-session cookie (an HMAC under the server's secret)
        assert form.status_code == 200 and "respond_csrf" in web.cookies and web.cookies["respond_csrf"] != csrf
        assert web.post("/signin", data={"key": "wrong", "csrf": csrf}).status_code == 401
        assert web.post("/signin", data={"key": "key-a", "csrf": "forged"}).status_code == 403
        ok = web.post("/signin", data={"key": "key-a", "csrf": csrf})
        assert ok.status_code == 303 and "respond_session" in web.cookies
        page = web.get("/responses")
        assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
        assert web.post("/responses/x/delete", data={"csrf": csrf}).status_code == 403  # the pre-session's token
        csrf = csrf_field(page.text)  # from now on, the session's
        # a state-changing form without the CSRF token is refused
        r = site.client(api_key="key-a").responses.create(model="scripted", input="keep me")
        assert web.post(f"/responses/{r.id}/delete", data={}).status_code == 403
        assert web.post(f"/responses/{r.id}/delete", data={"csrf": "nope"}).status_code == 403
        assert site.client(api_key="key-a").responses.retrieve(r.id).id == r.id
        assert web.post(f"/responses/{r.id}/delete", data={"csrf": csrf}).status_code == 303
        # another key's response: not found, whatever the id
        theirs = site.client(api_key="key-b").responses.create(model="scripted", input="theirs")
        assert web.get(f"/responses/{theirs.id}").status_code == 404
        assert web.post(f"/responses/{theirs.id}/delete", data={"csrf": csrf}).status_code == 404
        assert web.get("/static/dashboard.css").status_code == 200
        # conversations: listed and opened for their owner only
        conv = site.client(api_key="key-a").conversations.create(
            items=[{"type": "message", "role": "user", "content": "hello <b>there</b>"}], metadata={"k": "v"})
        other = site.client(api_key="key-b").conversations.create(metadata={"k": "w"})
        listing = web.get("/conversations").text
        assert conv.id in listing and other.id not in listing
        page = web.get(f"/conversations/{conv.id}")
        assert page.status_code == 200 and "hello &lt;b&gt;there&lt;/b&gt;" in page.text
        assert web.get(f"/conversations/{other.id}").status_code == 404
