"""Write forum/data/confusables.tsv from Unicode's confusables.txt (UTS #39).

    python tools/make_confusables.py path/to/confusables.txt

The forum never fetches anything at run time: it reads the compact table this writes
(``forum.auth.names``). The table keeps the mappings whose source is unchanged by NFKC,
since names are NFKC-normalised before the skeleton is taken; each line is
``SOURCE<TAB>TARGET`` as hex code points. Re-run with a newer confusables.txt to update.
"""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "forum" / "data" / "confusables.tsv"


def main(source: str) -> None:
    lines = Path(source).read_text("utf-8-sig").splitlines()
    version = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("# Version")), "?")
    rows = []
    for line in lines:
        data = line.split("#", 1)[0].strip()
        if not data:
            continue
        src, dst = (part.strip() for part in data.split(";")[:2])
        char = chr(int(src, 16))
        if unicodedata.normalize("NFKC", char) == char:
            rows.append(f"{src}\t{dst}")
    header = [
        f"# Unicode confusables (UTS #39), version {version}: NFKC-stable sources only.",
        "# Made by tools/make_confusables.py from Unicode's security data (confusables.txt).",
        "# Unicode data files: (c) Unicode, Inc., under the Unicode License v3.",
    ]
    OUT.write_text("\n".join(header + sorted(rows, key=lambda r: int(r.split()[0], 16))) + "\n")
    print(f"{len(rows)} mappings written to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
