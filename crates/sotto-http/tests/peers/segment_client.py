"""Segment's official Python library, unchanged, sending to Sotto: every call type, with the
envelope the library adds (context, anonymousId, integrations, sentAt, writeKey, Basic auth,
gzip), then a call Sotto must refuse. Prints what the library reported, as JSON."""

import json
import sys

from segment.analytics.client import Client
from segment.analytics.request import APIError

host, write_key = sys.argv[1], sys.argv[2]
client = Client(write_key, host=host, gzip=True, sync_mode=True, max_retries=0)
context = {"ip": "10.1.2.3", "userAgent": "Mozilla/5.0 (PeerPhone)", "location": {"city": "Springfield"}, "device": {"id": "device-77"}}

client.identify("lib-1", {"email": "lib@example.org", "email_verified": True, "timezone": "America/Chicago"}, context=context, anonymous_id="anon-77")
client.track("lib-1", "appointment_booked", {"appointment_id": "L-1", "appointment_start": "2026-12-10T15:00:00Z"}, context=context, message_id="lib-track-1")
client.page("lib-1", "Portal", "Lab results page", {}, context=context)
client.screen("lib-1", "App", "Home", {})
client.group("lib-1", "group-acme", {"name": "Acme Employer Plan"})
client.alias("anon-77", "lib-1")

refused = None
try:
    client.track("lib-1", "appointment_booked", {"appointment_id": "L-2", "diagnosis": "influenza"})
except APIError as e:
    refused = {"status": e.status, "code": e.code}
print(json.dumps({"refused": refused}))
