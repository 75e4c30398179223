"""HL7 v2 messages built with python-hl7 (its escaping) and sent to Sotto's MLLP listener with
its MLLP client; each acknowledgement read back with python-hl7's parser.

Usage: hl7_sender.py HOST PORT. Prints one JSON line: the MSA code, the control id echoed and
the number of ERR segments of each acknowledgement, in order.
"""

import json
import sys

import hl7
import hl7.util
from hl7.client import MLLPClient

HOST, PORT = sys.argv[1], int(sys.argv[2])
STANDARD = hl7.parse("MSH|^~\\&|PY\r")


def esc(text, container=STANDARD):
    return hl7.util.escape(container, text)


def scheduling(control):
    family = esc("O'Neil^Smith & Co")
    given = esc("Mara")
    email = esc("mara.oneil@example.org")
    return "\r".join([
        f"MSH|^~\\&|PYSCHED|NORTH|SOTTO|CLINIC|20261201093000||SIU^S12^SIU_S12|{control}|P|2.5.1",
        "SCH|PLC-88|FIL-88||||ROUTINE^Routine visit|||||^^^20261215103000-0600",
        "TQ1|||||||20261215103000-0600",
        "NTE|1||" + esc("Bring the MRI films | and the knee brace"),
        f"PID|1||111-22-3333^^^SSA^SS~PY-MRN-1^^^HOSP^MR||{family}^{given}||19800101|F|||||^NET^Internet^{email}",
        "DG1|1||E11.9^Type 2 diabetes mellitus^I10",
        "AIS|1||99213^Office visit^CPT|20261215103000-0600",
        "AIP|1||55^Rivera^Lucia",
    ]) + "\r"


def other_separators(control):
    # The same kind of message with every separator changed: # $ * ! %.
    return "\r".join([
        f"MSH#$*!%#PYADT#NORTH#SOTTO#CLINIC#20261201093000##ADT$A08$ADT_A01#{control}#P#2.5.1",
        "PID#1##PY-MRN-2$$$HOSP$MR##Lee!S!Park$Ann##19700202#F",
        "AL1#1##" + "penicillin",
    ]) + "\r"


MESSAGES = [
    ("PY-1", scheduling("PY-1")),
    ("PY-2", other_separators("PY-2")),
    ("", "PID|1||X^^^^MR\r"),
    ("PY-4", "MSH|^~\\&|PYADT|NORTH|SOTTO|CLINIC|20261201||ADT^A04|PY-4|P|2.5.1\rPID|1||111-22-3333^^^SSA^SS\r"),
]

results = []
with MLLPClient(HOST, PORT) as client:
    for control, text in MESSAGES:
        raw = client.send_message(text)
        ack = hl7.parse(raw.decode("utf-8").strip("\x0b\x1c\r"))
        msa = ack.segment("MSA")
        errors = [s for s in ack if str(s[0]) == "ERR"]
        results.append({"sent": control, "code": str(msa[1]), "control": str(msa[2]), "errors": len(errors)})
print(json.dumps(results))
