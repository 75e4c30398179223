"""The patient portal end to end in headless Chromium, against a running `sotto demo`.

A secure message is created through the API; its nudge in the development mailbox carries no
PHI; its link opens the portal; the one-time code from the mailbox verifies; the message shows;
preferences change (the consent ledger records source `portal`); an authorization is revoked
and a queued marketing message is then denied. A link used twice, an expired link, five wrong
codes, a session idle past its timeout and a form without its CSRF token are each refused.
axe-core runs on every page and must report no serious or critical violation.

Environment: SOTTO_BASE (the demo's URL), SOTTO_KEY (an API key with every scope),
AXE_JS (axe.min.js), CHROMIUM and CHROMEDRIVER (paths).
"""

import json
import re
import time
import urllib.request
from datetime import datetime, timedelta, timezone

from selenium.webdriver.common.by import By

from walk import BASE, RESULTS, advance, api, check_a11y, chromium, run, submit, text

RUN = str(time.time_ns())[-9:]
PATIENT = f"browser-walk-{RUN}"
EMAIL = f"walker{RUN}@example.org"


def mailbox():
    with urllib.request.urlopen(BASE + "/dev/mailbox.json", timeout=30) as r:
        return json.loads(r.read().decode())["messages"]


def wait_for_mail(predicate, what, seen=()):
    for _ in range(120):
        found = [m for m in mailbox() if m["id"] not in seen and predicate(m)]
        if found:
            return found[-1]
        time.sleep(0.25)
    raise AssertionError(f"no {what} arrived in the mailbox")


def to_walker(m):
    return EMAIL in m["to"]


def portal_link(message):
    match = re.search(r"https?://[^\s\"<>]+/portal/t/[A-Za-z0-9_-]+", message["text"] + (message.get("html") or ""))
    assert match, f"no portal link in the nudge: {message['text']}"
    return match.group(0)


def code_in(message):
    match = re.search(r"code is (?:<strong>)?(\d{6})", message["text"] + (message.get("html") or ""))
    assert match, "no code in the code message"
    return match.group(1)


def new_secure_message(nudge_template, subject, body, seen):
    made = api("POST", f"/v1/patients/{PATIENT}/secure-messages", {"subject": subject, "body": body, "category": "results", "nudge": {"channels": ["email"], "template_id": nudge_template}})
    nudge = wait_for_mail(lambda m: to_walker(m) and "/portal/t/" in m["text"], "nudge", seen)
    seen.add(nudge["id"])
    return made, nudge


def main():
    # A patient of our own, with a verified email, an email opt-in and a marketing authorization.
    api("POST", "/v1/identify", {"userId": PATIENT, "traits": {"email": EMAIL, "email_verified": True, "first_name": "Walker", "timezone": "America/Chicago", "language": "en"}})
    api("POST", f"/v1/patients/{PATIENT}/consents", {"channel": "email", "status": "opted_in", "kind": "express", "source": "web_form", "captured_at": "2026-01-05T10:00:00Z", "evidence": {"form_version": "web-v1"}})
    api("POST", "/v1/authorization-forms", {
        "version": "portal-walk-v1", "language": "en", "text": "I allow the clinic to use my appointment history to send me news about its services.",
        "statements": {"right_to_revoke": "You may revoke this at any time in writing or in the portal.", "conditioning": "Your care does not depend on signing.",
                       "redisclosure": "Information shared under this authorization may be redisclosed and no longer protected."},
    }, expect=(201, 409))
    form = {
        "description_of_information": "appointment history", "disclosed_by": "Sotto Clinic", "recipients": ["Sotto Clinic marketing office"],
        "purpose": "news about the clinic's services", "expires_at": "2030-01-01", "signed_at": "2026-01-05T10:00:00Z", "signature": "typed: Walker",
        "statements": {"right_to_revoke": True, "conditioning": True, "redisclosure": True}, "remuneration": {"involved": False},
        "form_version": "portal-walk-v1",
    }
    api("POST", f"/v1/patients/{PATIENT}/authorizations", form)
    templates = {t["name"]: t["id"] for t in api("GET", "/v1/templates")["templates"]}
    nudge_template = templates["Secure message nudge (email)"]
    seen = {m["id"] for m in mailbox()}

    driver = chromium("412,915")
    try:
        # The nudge carries no PHI.
        made, nudge = new_secure_message(nudge_template, "Your potassium result", "Your potassium is 5.9, which is high. Please call us today.", seen)
        mail_text = json.dumps(nudge)
        assert "potassium" not in mail_text and "5.9" not in mail_text, "the nudge carries PHI"
        link = portal_link(nudge)

        driver.get(link)
        assert "You have a secure message" in text(driver)
        check_a11y(driver, "link landing")
        submit(driver, "Send my code")
        assert driver.current_url.endswith("/portal/verify"), driver.current_url
        check_a11y(driver, "one-time code")
        code_message = wait_for_mail(lambda m: to_walker(m) and "sign-in code" in (m["text"] + m["subject"]).lower(), "one-time code", seen)
        seen.add(code_message["id"])
        driver.find_element(By.ID, "code").send_keys(code_in(code_message))
        submit(driver, "Continue")
        assert "/portal/password" in driver.current_url, driver.current_url
        check_a11y(driver, "set password")
        driver.find_element(By.ID, "password").send_keys("blue kettle morning")
        driver.find_element(By.ID, "confirm").send_keys("blue kettle morning")
        submit(driver, "Save password")
        assert "Your potassium is 5.9" in text(driver), text(driver)
        check_a11y(driver, "secure message")
        assert api("GET", f"/v1/secure-messages/{made['id']}")["status"] == "read"

        driver.get(BASE + "/portal")
        assert "Your potassium result" in text(driver)
        check_a11y(driver, "messages")

        # The link a second time.
        driver.get(link)
        assert "already used" in text(driver), text(driver)
        check_a11y(driver, "used link")

        # Preferences: the events topic off; the ledger records it with source portal.
        driver.get(BASE + "/portal/preferences")
        check_a11y(driver, "preferences")
        events = driver.find_element(By.ID, "topic-events")
        assert events.is_selected()
        events.click()
        submit(driver, "Save preferences")
        assert "Your preferences are saved." in text(driver), text(driver)
        ledger = api("GET", f"/v1/patients/{PATIENT}/consents")["history"]
        assert any(r.get("source") == "portal" and r.get("topic") == "events" and r.get("status") == "opted_out" for r in ledger), ledger

        # A marketing email queued for later, then the authorization revoked in the portal.
        later = (datetime.now(timezone.utc) + timedelta(hours=30)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        queued = api("POST", "/v1/messages", {"patient": PATIENT, "template_id": templates["Monthly newsletter (email)"], "channel": "email", "purpose": "marketing", "topic": "newsletter", "uses_phi": True, "not_before": later}, key=f"portal-walk-{time.time_ns()}")
        submit(driver, "Revoke")
        assert "The authorization is revoked." in text(driver), text(driver)
        check_a11y(driver, "preferences after a revocation")
        advance("31h")
        for _ in range(120):
            status = api("GET", f"/v1/messages/{queued['id']}")
            if status["status"] not in ("queued", "sending"):
                break
            time.sleep(0.25)
        assert status["status"] == "denied" and "authorization_revoked" in status["reasons"], status

        # Five wrong codes end a verification.
        _, nudge2 = new_secure_message(nudge_template, "A second note", "Bring your inhaler to the next visit.", seen)
        driver.delete_all_cookies()
        driver.get(portal_link(nudge2))
        submit(driver, "Send my code")
        code2 = wait_for_mail(lambda m: to_walker(m) and "sign-in code" in (m["text"] + m["subject"]).lower(), "second code", seen)
        seen.add(code2["id"])
        wrong = "000000" if code_in(code2) != "000000" else "111111"
        for left in (4, 3, 2, 1):
            driver.find_element(By.ID, "code").send_keys(wrong)
            submit(driver, "Continue")
            assert f"Tries left: {left}" in text(driver), text(driver)
        check_a11y(driver, "wrong code")
        driver.find_element(By.ID, "code").send_keys(wrong)
        submit(driver, "Continue")
        assert "can no longer be used" in text(driver), text(driver)

        # An expired link.
        _, nudge3 = new_secure_message(nudge_template, "A third note", "Your referral was sent.", seen)
        advance("8d")
        driver.get(portal_link(nudge3))
        assert "expired" in text(driver), text(driver)
        check_a11y(driver, "expired link")

        # Sign in with the password; a form without its CSRF token is refused.
        driver.delete_all_cookies()
        driver.get(BASE + "/portal")
        check_a11y(driver, "sign in")
        driver.find_element(By.ID, "name").send_keys(EMAIL)
        driver.find_element(By.ID, "password").send_keys("blue kettle morning")
        submit(driver, "Sign in")
        assert "Your secure messages" in text(driver), text(driver)
        driver.get(BASE + "/portal/preferences")
        driver.execute_script("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
        submit(driver, "Save preferences")
        assert "This form has expired" in text(driver), text(driver)
        check_a11y(driver, "form expired")

        # Idle past fifteen minutes: signed out.
        driver.get(BASE + "/portal")
        assert "Your secure messages" in text(driver)
        advance("16m")
        driver.get(BASE + "/portal")
        assert driver.find_elements(By.ID, "password"), "the sign-in form after an idle session: " + text(driver)
    finally:
        driver.quit()
    print(json.dumps({"accessibility": RESULTS}))


if __name__ == "__main__":
    run(main)
