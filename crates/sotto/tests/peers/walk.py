"""What the browser walks share: the demo's API with its key, headless Chromium, axe-core run
inside a page, and page reads that ride out a document being replaced.

Environment: SOTTO_BASE (the demo's URL), SOTTO_KEY (an API key with every scope), AXE_JS
(axe.min.js), CHROMIUM and CHROMEDRIVER (paths).
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

BASE = os.environ["SOTTO_BASE"].rstrip("/")
KEY = os.environ["SOTTO_KEY"]
AXE = open(os.environ["AXE_JS"], encoding="utf-8").read()
RESULTS = []


def api(method, path, body=None, expect=(200, 201, 202), key=None):
    """Calls the API with the demo's key (and an Idempotency-Key when given); answers the JSON."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    if status not in expect:
        raise AssertionError(f"{method} {path} answered {status}: {text}")
    return json.loads(text) if text else None


def advance(by):
    """Moves the demo's clock forward."""
    api("POST", "/dev/clock", {"advance": by})


def chromium(window):
    """Headless Chromium with ChromeDriver, a window of `window` ("W,H") pixels."""
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ["CHROMIUM"]
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={window}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(os.environ["CHROMEDRIVER"]), options=options)
    driver.set_script_timeout(60)
    return driver


def check_a11y(driver, page):
    """Runs axe-core (WCAG 2.0/2.1 A and AA, best practices) in the page; fails on any serious
    or critical violation and keeps the result for the report."""
    result = driver.execute_async_script(
        AXE + "\nconst done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
        ".then(r => done({violations: r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length})), passes: r.passes.length}))"
        ".catch(e => done({error: String(e)}));"
    )
    assert "error" not in result, f"axe failed on {page}: {result}"
    bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    RESULTS.append({"page": page, "passes": result["passes"], "violations": result["violations"]})
    assert not bad, f"axe found serious or critical violations on {page}: {bad}"


def settled(action, attempts=10):
    """Runs a read of the page again while the browser is still replacing the document."""
    for attempt in range(attempts):
        try:
            return action()
        except WebDriverException:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2)


def text(driver):
    return settled(lambda: driver.find_element(By.TAG_NAME, "body").text)


def replaced(element):
    """Whether the page an element belonged to is gone (ChromeDriver may report a stale element
    as stale, or as a node that no longer belongs to the document)."""
    try:
        element.is_enabled()
        return False
    except WebDriverException:
        return True


def submit(driver, button_text, within=None):
    """Presses a form's button (inside `within` when given) and waits for the page it leads to."""
    old = settled(lambda: driver.find_element(By.TAG_NAME, "html"))
    scope = within if within is not None else driver
    button = settled(lambda: scope.find_element(By.XPATH, f".//button[normalize-space()='{button_text}']"))
    button.click()
    WebDriverWait(driver, 30).until(lambda _: replaced(old))
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


def run(main):
    """Runs a walk: an assertion that fails is reported on standard error with exit code 1."""
    try:
        main()
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
