"""The staff console end to end in headless Chromium, against a running `sotto demo`.

Each demo account signs in with its password and a TOTP code computed here (RFC 6238, an
implementation independent of Sotto's); every console page is then requested by every role
and compared with what the roles are meant to reach; a form without its CSRF token is
refused; a session idle past its timeout (the demo's clock moved) is signed out; a composer
cannot see the vault or approve; a template is edited until the live linter passes; and a
campaign is made by a composer, approved by compliance and launched from the console.
axe-core runs on every page and must report no serious or critical violation.

Environment: SOTTO_BASE, SOTTO_KEY (an API key with every scope), CONSOLE_USERS (the demo's
console-users.txt), AXE_JS, CHROMIUM and CHROMEDRIVER.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import struct
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from walk import BASE, RESULTS, advance, api, check_a11y, chromium, run, settled, submit, text

CHECKED = set()

# What each role is meant to reach, written from the roles' descriptions (not from Sotto's
# table): True where the page must open, False where it must be refused.
PAGES = ["/console", "/console/patients", "/console/dictionary", "/console/vault", "/console/segments", "/console/templates", "/console/approvals",
         "/console/campaigns", "/console/journeys", "/console/reports", "/console/audit", "/console/settings", "/console/keys", "/console/break-glass"]
EVERYONE = {"/console", "/console/dictionary", "/console/templates", "/console/campaigns", "/console/journeys", "/console/reports", "/console/break-glass"}
MAY = {
    "composer": EVERYONE | {"/console/segments"},
    "compliance": EVERYONE | {"/console/patients", "/console/vault", "/console/segments", "/console/approvals", "/console/audit"},
    "admin": EVERYONE | {"/console/segments", "/console/audit", "/console/settings", "/console/keys"},
    "analyst": EVERYONE | {"/console/segments"},
    "operator": EVERYONE | {"/console/patients"},
    "auditor": EVERYONE | {"/console/audit"},
}


def totp(secret, at):
    """RFC 6238: HMAC-SHA1 over the 30-second step, dynamic truncation, six digits."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000)


def accounts():
    found = {}
    for line in open(os.environ["CONSOLE_USERS"], encoding="utf-8"):
        m = re.match(r"(\w+)\s+(\S+)\s+password: (.+?)\s+TOTP secret: (\w+)", line.strip())
        if m:
            found[m.group(1)] = {"email": m.group(2), "password": m.group(3), "secret": m.group(4)}
    assert set(found) == set(MAY), f"the demo wrote an account per role: {sorted(found)}"
    return found


def once_a11y(driver, page):
    if page not in CHECKED:
        CHECKED.add(page)
        check_a11y(driver, page)


def heading(driver):
    return settled(lambda: driver.find_element(By.TAG_NAME, "h1").text)


LAST_STEP = {}


def sign_in(driver, who, check=False):
    # A code is accepted once per 30-second step (of real time, as an authenticator app keeps
    # it): a second sign-in in the same step waits for the next one.
    if LAST_STEP.get(who["email"]) == int(time.time()) // 30:
        next_step()
    driver.delete_all_cookies()
    driver.get(BASE + "/console/sign-in")
    if check:
        once_a11y(driver, "sign in")
    driver.find_element(By.ID, "email").send_keys(who["email"])
    driver.find_element(By.ID, "password").send_keys(who["password"])
    submit(driver, "Continue")
    assert driver.current_url.endswith("/console/code"), driver.current_url
    if check:
        once_a11y(driver, "code")
        driver.find_element(By.ID, "code").send_keys("000000" if totp(who["secret"], time.time()) != "000000" else "111111")
        submit(driver, "Sign in")
        assert "not right" in text(driver), "a wrong TOTP code was refused"
        once_a11y(driver, "wrong code")
    at = time.time()
    driver.find_element(By.ID, "code").send_keys(totp(who["secret"], at))
    submit(driver, "Sign in")
    LAST_STEP[who["email"]] = int(at) // 30
    if driver.current_url.endswith("/console/code"):
        # The step was used before this walk began (an earlier run on the same demo).
        next_step()
        at = time.time()
        driver.find_element(By.ID, "code").send_keys(totp(who["secret"], at))
        submit(driver, "Sign in")
        LAST_STEP[who["email"]] = int(at) // 30
    assert driver.current_url.rstrip("/").endswith("/console"), f"{who['email']} did not reach the dashboard: {driver.current_url} {text(driver)[:300]}"


def next_step():
    time.sleep(30.05 - time.time() % 30)


def allowed(driver, path):
    driver.get(BASE + path)
    return heading(driver) != "Not permitted"


def main():
    users = accounts()
    driver = chromium("1280,1000")
    summary = {}
    try:
        # Every page against every role.
        unexpected_allows, unexpected_refusals, cells = [], [], 0
        for role, who in users.items():
            sign_in(driver, who, check=(role == "composer"))
            for path in PAGES:
                cells += 1
                ok = allowed(driver, path)
                if ok and path not in MAY[role]:
                    unexpected_allows.append((role, path))
                if not ok and path in MAY[role]:
                    unexpected_refusals.append((role, path))
                if ok:
                    once_a11y(driver, path)
            nav = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "nav a")]
            assert len(nav) == len(MAY[role]), f"{role}'s navigation lists what it may open: {nav}"
        assert not unexpected_allows, f"unexpected allows: {unexpected_allows}"
        assert not unexpected_refusals, f"unexpected refusals: {unexpected_refusals}"
        once_a11y(driver, "not permitted")
        summary["matrix"] = {"roles": len(users), "pages": len(PAGES), "cells": cells, "unexpected_allows": 0, "unexpected_refusals": 0}

        # A composer cannot see the vault or approve.
        sign_in(driver, users["composer"])
        assert not allowed(driver, "/console/vault") and not allowed(driver, "/console/approvals")
        nav = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "nav a")]
        assert "Code vault" not in nav and "Approvals" not in nav, nav
        draft = next(c for c in api("GET", "/v1/campaigns")["campaigns"] if c["state"] == "draft")
        driver.get(BASE + "/console/campaigns/" + draft["id"])
        assert "Approve" not in [b.text for b in driver.find_elements(By.TAG_NAME, "button")], "a composer is offered no approval"
        status = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "const csrf = document.querySelector('input[name=csrf]').value;"
            "fetch(arguments[0], {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'csrf=' + encodeURIComponent(csrf)})"
            ".then(r => done(r.status)).catch(e => done(String(e)));", "/console/campaigns/" + draft["id"] + "/approve")
        assert status == 403, f"a composer's approval was answered {status}"
        assert api("GET", "/v1/campaigns/" + draft["id"])["state"] == "draft"

        # A journey drawn as its steps; the segment size shown while a definition is typed.
        journey = api("GET", "/v1/journeys")["journeys"][0]
        driver.get(BASE + "/console/journeys/" + journey["id"])
        steps = driver.find_elements(By.CSS_SELECTOR, "ol.steps > li")
        assert len(steps) >= 5 and "send by" in text(driver), "the journey is drawn as its steps"
        once_a11y(driver, "journey")
        driver.get(BASE + "/console/segments")
        driver.find_element(By.ID, "definition").send_keys('language = "es"')
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#segment-size [data-size]"))
        driver.find_element(By.ID, "definition").send_keys(" and")
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#segment-size ul.error"))
        once_a11y(driver, "segment size")

        # A template edited until the live linter is satisfied.
        driver.get(BASE + "/console/templates")
        driver.find_element(By.ID, "name").send_keys("Console walk " + str(time.time_ns())[-6:])
        Select(driver.find_element(By.ID, "channel")).select_by_value("sms")
        driver.find_element(By.ID, "text").send_keys("Hello from the clinic.")
        submit(driver, "Create and open the editor")
        assert "/console/templates/tpl_" in driver.current_url, driver.current_url + " " + text(driver)[:600]
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#lint [data-verdict='pass']"))
        body = driver.find_element(By.ID, "sms_body")
        body.clear()
        body.send_keys("Your HIV test results are ready.")
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#lint [data-verdict='block']"))
        assert driver.find_elements(By.CSS_SELECTOR, "#lint mark"), "the finding is highlighted"
        assert "try" in driver.find_element(By.ID, "lint").text, "a rewrite is suggested"
        once_a11y(driver, "template editor (blocked)")
        body = driver.find_element(By.ID, "sms_body")
        body.clear()
        body.send_keys("You have a new message from Sotto Clinic. Sign in to the portal to read it.")
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#lint [data-verdict='pass']"))
        assert "Sign in to the portal" in driver.find_element(By.CSS_SELECTOR, "#lint .lock").text, "the lock-screen preview shows the text"
        once_a11y(driver, "template editor (passing)")
        submit(driver, "Save as a new draft")
        submit(driver, "Submit version 2 for review")
        assert "submitted" in text(driver)
        summary["template"] = driver.current_url.rsplit("/", 1)[-1]

        # A campaign made by a composer, approved by compliance, launched by the composer.
        templates = {t["name"]: t["id"] for t in api("GET", "/v1/templates")["templates"]}
        driver.get(BASE + "/console/campaigns")
        name = "Console walk notice " + str(time.time_ns())[-6:]
        driver.find_element(By.ID, "name").send_keys(name)
        Select(driver.find_element(By.ID, "segment_id")).select_by_visible_text("Spanish-speaking patients")
        Select(driver.find_element(By.ID, "template_id")).select_by_value(templates["Holiday hours (email)"])
        Select(driver.find_element(By.ID, "channel")).select_by_value("email")
        Select(driver.find_element(By.ID, "purpose")).select_by_value("operations")
        submit(driver, "Create draft")
        campaign = driver.current_url.rsplit("/", 1)[-1]
        assert campaign.startswith("cmp_"), driver.current_url
        once_a11y(driver, "campaign (draft)")
        sign_in(driver, users["compliance"])
        driver.get(BASE + "/console/campaigns/" + campaign)
        submit(driver, "Approve")
        assert api("GET", "/v1/campaigns/" + campaign)["state"] == "approved"
        sign_in(driver, users["composer"])
        driver.get(BASE + "/console/campaigns/" + campaign)
        submit(driver, "Launch")
        WebDriverWait(driver, 60).until(lambda d: "finished" in d.find_element(By.ID, "progress").text)
        once_a11y(driver, "campaign (launched)")
        launched = api("GET", "/v1/campaigns/" + campaign)
        assert launched["state"] == "launched" and launched["approved_by"] != launched["created_by"], launched
        summary["campaign"] = {"id": campaign, "created_by": launched["created_by"], "approved_by": launched["approved_by"]}

        # A form without its CSRF token is refused, and nothing is written.
        sign_in(driver, users["admin"])
        driver.get(BASE + "/console/keys")
        before = len(api("GET", "/v1/keys")["keys"])
        driver.find_element(By.ID, "key-name").send_keys("csrf probe")
        driver.execute_script("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
        submit(driver, "Create", within=driver.find_element(By.ID, "key-name").find_element(By.XPATH, "./ancestor::form"))
        assert heading(driver) == "Form expired", heading(driver)
        once_a11y(driver, "form expired")
        assert len(api("GET", "/v1/keys")["keys"]) == before, "the refused form wrote nothing"

        # Settings and keys pages with an invitation and a client shown once.
        driver.get(BASE + "/console/settings")
        driver.find_element(By.ID, "display_name").send_keys("Invited Reviewer")
        driver.find_element(By.ID, "email").send_keys("invited" + str(time.time_ns())[-6:] + "@clinic.example")
        submit(driver, "Invite")
        link = driver.find_element(By.ID, "invite-link").text
        driver.delete_all_cookies()
        driver.get(link)
        secret = driver.find_element(By.ID, "totp-secret").text
        once_a11y(driver, "invitation")
        driver.find_element(By.ID, "password").send_keys("correct horse battery staple")
        driver.find_element(By.ID, "confirm").send_keys("correct horse battery staple")
        driver.find_element(By.ID, "code").send_keys(totp(secret, time.time()))
        submit(driver, "Set up my account")
        assert "Your account is ready" in text(driver), text(driver)

        # A sensitive action ten minutes after the code asks for a new one, then goes on.
        sign_in(driver, users["admin"])
        advance("11m")
        driver.get(BASE + "/console/keys")
        client_form = driver.find_element(By.ID, "client-name").find_element(By.XPATH, "./ancestor::form")
        driver.find_element(By.ID, "client-name").send_keys("Scheduling feed")
        client_form.find_element(By.CSS_SELECTOR, "input[name=scope][value='metrics:read']").click()
        submit(driver, "Create", within=client_form)
        assert "/console/reauth" in driver.current_url, driver.current_url
        once_a11y(driver, "confirm it is you")
        next_step()
        driver.find_element(By.ID, "code").send_keys(totp(users["admin"]["secret"], time.time()))
        submit(driver, "Confirm")
        assert driver.current_url.endswith("/console/keys"), driver.current_url
        client_form = driver.find_element(By.ID, "client-name").find_element(By.XPATH, "./ancestor::form")
        driver.find_element(By.ID, "client-name").send_keys("Scheduling feed")
        client_form.find_element(By.CSS_SELECTOR, "input[name=scope][value='metrics:read']").click()
        submit(driver, "Create", within=client_form)
        assert driver.find_element(By.ID, "new-secret").text.startswith("scs_"), "the client's secret is shown once"

        # The idle timeout, with the demo's clock moved past it.
        sign_in(driver, users["auditor"])
        driver.get(BASE + "/console/audit")
        assert heading(driver) == "Audit log"
        advance("16m")
        driver.get(BASE + "/console/audit")
        assert "/console/sign-in" in driver.current_url and "session ended" in text(driver), driver.current_url
        summary["idle_timeout"] = "signed out after 16 idle minutes"
    finally:
        driver.quit()
    print(json.dumps({"summary": summary, "accessibility": RESULTS}))


if __name__ == "__main__":
    run(main)
