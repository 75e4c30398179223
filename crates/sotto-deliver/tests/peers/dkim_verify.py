"""Verifies the DKIM signature of each message file with dkimpy (an implementation
independent of Sotto's) against a public key given as the DNS TXT record of
SELECTOR._domainkey.DOMAIN. Prints one line per file: "<file> pass|fail <a=> <h=>"."""
import email
import sys

import dkim
import dkim.util


def main():
    selector, domain, record = sys.argv[1], sys.argv[2], sys.argv[3].encode()
    name = f"{selector}._domainkey.{domain}.".encode()

    def dns(qname, timeout=5):
        return record if qname == name else None

    for path in sys.argv[4:]:
        with open(path, "rb") as f:
            message = f.read()
        ok = dkim.verify(message, dnsfunc=dns)
        header = email.message_from_bytes(message).get("DKIM-Signature", "")
        tags = dkim.util.parse_tag_value("".join(str(header).split()).encode()) if header else {}
        algorithm = tags.get(b"a", b"").decode()
        signed = tags.get(b"h", b"").decode()
        print(path, "pass" if ok else "fail", algorithm or "-", signed or "-")


if __name__ == "__main__":
    main()
