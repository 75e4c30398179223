"""The like-for-like peer of Sotto's linter: the same lexicon in pyahocorasick, the way a
competent engineer would write a keyword filter in Python.

Text is folded as such a filter would fold it (NFKD without accents, lower case, anything but
letters and digits as one space), the automaton holds every lexicon term of both files with
its severity, and a text is blocked when a blocking term matches on whole words.

Usage: ahocorasick_peer.py LEXICON_TSV SOURCES_TSV TEXTS_FILE LABELLED_TSV
TEXTS_FILE has one text per line (timed); LABELLED_TSV has `expected<TAB>text` lines. Prints
one JSON object.
"""

import json
import re
import sys
import time
import unicodedata
from pathlib import Path

import ahocorasick

NON_WORD = re.compile(r"[^0-9a-z]+")


def fold(text):
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " " + NON_WORD.sub(" ", plain).strip() + " "


def automaton(paths):
    a = ahocorasick.Automaton()
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if not line or line.startswith("#"):
                continue
            term, _category, _language, severity = line.split("\t")[:4]
            a.add_word(" " + term + " ", severity == "block" or a.get(" " + term + " ", False))
    a.make_automaton()
    return a


def blocks(a, text):
    return any(block for _end, block in a.iter(fold(text)))


def main():
    lexicon, sources, texts_file, labelled = sys.argv[1:5]
    start = time.perf_counter()
    a = automaton([lexicon, sources])
    build = time.perf_counter() - start
    texts = Path(texts_file).read_text(encoding="utf-8").splitlines()
    best = float("inf")
    flagged = 0
    for _ in range(3):
        start = time.perf_counter()
        flagged = sum(1 for t in texts if blocks(a, t))
        best = min(best, time.perf_counter() - start)
    verdicts = []
    for line in Path(labelled).read_text(encoding="utf-8").splitlines():
        expected, text = line.split("\t", 1)
        verdicts.append(blocks(a, text))
    print(json.dumps({"texts": len(texts), "seconds": best, "flagged": flagged, "build_seconds": build, "verdicts": verdicts}))


if __name__ == "__main__":
    main()
