"""Morphology stages: `stem` (NLTK Porter/Snowball/Lancaster) and `lemmatize` (spaCy lookup table,
trained spaCy pipeline, or WordNet).

Rewrites replace only `Token.text`; start/end still point into the original document. Per token
the work is one dict lookup: stemmers and WordNet sit behind a per-configuration memo (`Memo`),
and the spaCy lookup table is a plain str -> str dict.
"""

from __future__ import annotations

import io
import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import model_validator

from textseq import resources
from textseq.errors import ResourceMissingError
from textseq.text.base import Token, TokenStage, new_token, register_stage
from textseq.text.memo import Memo
from textseq.text.stopwords import stopword_set



def _rewrite(tokens: list[Token], table: dict[str, str]) -> list[Token]:
    # Unchanged tokens are reused as they are; indexing a Token is cheaper than its named fields.
    return [t if (new := table[t[0]]) == t[0] else new_token(Token, (new, t[1], t[2])) for t in tokens]


def _rewrite_known(tokens: list[Token], table: dict[str, str]) -> list[Token]:
    """`_rewrite` for a table whose unknown words stay as they are. Most words of a text are not in
    the lemma lookup table, and `get` answers them without calling back into Python."""
    get = table.get
    return [t if (new := get(w := t[0], w)) == w else new_token(Token, (new, t[1], t[2])) for t in tokens]


# ---------------------------------------------------------------------------------------- stemming

SNOWBALL_LANGUAGES: tuple[str, ...] = (
    "arabic", "danish", "dutch", "english", "finnish", "french", "german", "hungarian", "italian",
    "norwegian", "porter", "portuguese", "romanian", "russian", "spanish", "swedish",
)  # == nltk.stem.SnowballStemmer.languages (checked by a test), kept here so validation imports nothing

# ISO codes are accepted too, because the other stages name languages that way.
_LANGUAGE_CODES = {
    "ar": "arabic", "da": "danish", "nl": "dutch", "en": "english", "fi": "finnish", "fr": "french",
    "de": "german", "hu": "hungarian", "it": "italian", "nb": "norwegian", "no": "norwegian",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "es": "spanish", "sv": "swedish",
}
_SPACY_CODES = {name: code for code, name in _LANGUAGE_CODES.items() if code != "no"} | {"porter": "en"}


def _language_name(language: str) -> str:
    return _LANGUAGE_CODES.get(language, language)


@lru_cache(maxsize=None)
def _stem_memo(algorithm: str, language: str, ignore_stopwords: bool) -> Memo:
    from nltk.stem import LancasterStemmer, PorterStemmer, SnowballStemmer

    name = _language_name(language)
    if algorithm == "porter":
        stem = PorterStemmer().stem
    elif algorithm == "lancaster":
        stem = LancasterStemmer().stem
    else:
        stem = SnowballStemmer(name).stem
    if not ignore_stopwords:
        return Memo(stem)
    # NLTK's own ignore_stopwords needs its stop-word corpus, which cannot be downloaded offline;
    # spaCy's list for the same language ships with spaCy.
    stop = stopword_set("spacy", _SPACY_CODES[name])
    return Memo(lambda w: w if w.lower() in stop else stem(w))


@register_stage("stem")
class Stem(TokenStage):
    """Replace each token by its stem (NLTK stemmers lower-case their output)."""

    algorithm: Literal["porter", "snowball", "lancaster"] = "porter"
    language: str = "english"  # snowball: any of SNOWBALL_LANGUAGES (or its ISO code); others: english
    ignore_stopwords: bool = False  # leave words in spaCy's stop list for the language unstemmed

    @model_validator(mode="after")
    def _check_language(self) -> "Stem":
        name = _language_name(self.language)
        if self.algorithm == "snowball" and name not in SNOWBALL_LANGUAGES:
            raise ValueError(
                f"snowball has no language {self.language!r}; valid: {', '.join(SNOWBALL_LANGUAGES)} "
                f"(or the ISO codes {', '.join(sorted(_LANGUAGE_CODES))})"
            )
        if self.algorithm != "snowball" and name != "english":
            raise ValueError(
                f"{self.algorithm} stems English only (language {self.language!r}); use algorithm: snowball "
                f"for {', '.join(SNOWBALL_LANGUAGES)}"
            )
        return self

    def process(self, value: list[Token]) -> list[Token]:
        """Stem every token, keeping its offsets."""
        return _rewrite(value, _stem_memo(self.algorithm, self.language, self.ignore_stopwords))


# ----------------------------------------------------------------------------------- lemmatizing

@lru_cache(maxsize=None)
def lemma_lookup_table(language: str = "en") -> dict[str, str]:
    """spacy-lookups-data's `lemma_lookup` table for `language` as a plain str -> str dict."""
    # spacy.lookups.load_lookups() returns a Table keyed by string *hashes*; the registry entry it
    # reads from gives the same JSON with the strings themselves, which is what a dict lookup needs.
    from spacy.util import load_language_data, registry

    try:
        tables = registry.lookups.get(language)
    except Exception:  # catalogue raises RegistryError when the language (or the package) is absent
        tables = {}
    if "lemma_lookup" not in tables:
        raise ResourceMissingError(
            f"lemmatize: no lemma_lookup table for language {language!r} in spacy-lookups-data "
            f"(pip install spacy-lookups-data; English is 'en'). Languages with one: "
            f"{', '.join(_lookup_languages())}"
        )
    return dict(load_language_data(tables["lemma_lookup"]))


def _lookup_languages() -> list[str]:
    from spacy.util import registry

    try:
        return sorted(lang for lang, t in registry.lookups.get_all().items() if "lemma_lookup" in t)
    except Exception:
        return []


class _LookupTable(dict):
    """The lookup table; a word it lacks maps to itself (or, with `lowercase`, to its lower-case
    form's lemma), without being stored, so misses do not grow it."""

    lowercase = False

    def __missing__(self, word: str) -> str:
        return dict.get(self, word.lower(), word) if self.lowercase else word


@lru_cache(maxsize=None)
def _lookup_memo(language: str, lowercase_lookup: bool) -> _LookupTable:
    table = _LookupTable(lemma_lookup_table(language))
    table.lowercase = lowercase_lookup
    return table


# WordNet ships its lexicographer-file list as `lexnames`; NLTK's reader requires it but Debian's
# wordnet-base package omits it. Its content is fixed for WordNet 2.x/3.x (see lexnames(5WN)).
_LEXNAMES = """adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute
noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group
noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession
noun.process noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body
verb.change verb.cognition verb.communication verb.competition verb.consumption verb.contact
verb.creation verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative
verb.weather adj.ppl""".split()
_LEX_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
_LEXNAMES_FILE = "".join(
    f"{i:02d}\t{name}\t{_LEX_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(_LEXNAMES)
)
# What the lemmatizer reads: the lemma indexes, the irregular-form lists, and data.adj (the reader
# scans it on load). index.sense and cntlist.rev (also absent from wordnet-base) are never opened.
WORDNET_FILES = tuple(f"index.{p}" for p in ("noun", "verb", "adj", "adv")) + tuple(
    f"{p}.exc" for p in ("noun", "verb", "adj", "adv")
) + ("data.adj",)
DEBIAN_WORDNET_DIR = "/usr/share/wordnet"
_WORDNET_HELP = (
    "NLTK's downloader needs the internet; on Debian/Ubuntu `apt-get install wordnet-base`, or set "
    "TEXTSEQ_WORDNET_DIR=/path/to/WordNet-3.0/dict"
)


def _wordnet_root() -> Any:
    """TEXTSEQ_WORDNET_DIR if set (and then only it), else NLTK data, else Debian's directory."""
    env = os.environ.get("TEXTSEQ_WORDNET_DIR")
    if not env:
        import nltk.data

        try:
            return nltk.data.find("corpora/wordnet")
        except LookupError:
            pass
    root = Path(env or DEBIAN_WORDNET_DIR)
    missing = [f for f in WORDNET_FILES if not (root / f).is_file()]
    if len(missing) == len(WORDNET_FILES):
        where = f"TEXTSEQ_WORDNET_DIR={env}" if env else f"NLTK data or {DEBIAN_WORDNET_DIR}"
        raise ResourceMissingError(f"WordNet data not found (looked in {where}): {_WORDNET_HELP}")
    if missing:
        raise ResourceMissingError(
            f"WordNet directory {root} is incomplete: missing {', '.join(missing)}. {_WORDNET_HELP}"
        )
    return root


@lru_cache(maxsize=None)
def wordnet_reader() -> Any:
    """An NLTK WordNetCorpusReader over NLTK's WordNet data, or Debian's, or TEXTSEQ_WORDNET_DIR."""
    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class _Reader(WordNetCorpusReader):
        def open(self, file: str) -> Any:
            try:
                return super().open(file)
            except OSError:
                if file != "lexnames":
                    raise
                return io.StringIO(_LEXNAMES_FILE)

        def map_wn(self, version: str = "wordnet") -> None:
            # Only the multilingual (OMW) functions use this mapping; NLTK 3.10 would build it by
            # loading a second WordNet through its downloader paths, which fails for Debian's copy.
            return None

    root = _wordnet_root()
    if isinstance(root, Path):
        # NLTK >= 3.9 opens corpus files only under its data path (nltk.pathsec); authorise exactly
        # this one directory.
        if str(root) not in map(str, nltk.data.path):
            nltk.data.path.append(str(root))
        root = str(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available": not needed here
        return _Reader(root, None)


_WORDNET_POS_ORDER = ("v", "n", "a", "r")


@lru_cache(maxsize=None)
def _wordnet_memo(pos: str, lowercase_lookup: bool) -> Memo:
    reader = wordnet_reader()

    def lemma(word: str) -> str:
        # Same rule as nltk.stem.WordNetLemmatizer.lemmatize (shortest candidate), on our reader.
        forms = (word, word.lower()) if lowercase_lookup and not word.islower() else (word,)
        for form in forms:
            for p in _WORDNET_POS_ORDER if pos == "auto" else (pos,):
                lemmas = reader._morphy(form, p)
                if lemmas:
                    return min(lemmas, key=len)
        return word

    return Memo(lemma)


def clear_caches() -> None:
    """Forget every loaded table, reader and memo (e.g. after changing TEXTSEQ_WORDNET_DIR)."""
    for fn in (_stem_memo, lemma_lookup_table, _lookup_memo, wordnet_reader, _wordnet_memo):
        fn.cache_clear()


@register_stage("lemmatize")
class Lemmatize(TokenStage):
    """Replace each token by its lemma; unknown words are kept as they are."""

    backend: Literal["spacy_lookup", "spacy_pipeline", "wordnet"] = "spacy_lookup"
    language: str = "en"  # spacy_lookup: a spacy-lookups-data language; wordnet: en only
    model: str | None = None  # spacy_pipeline: an installed trained pipeline, e.g. en_core_web_sm
    lowercase_lookup: bool = False  # lookup/wordnet: also try the lower-cased word ("Was" -> "be")
    # wordnet: the part of speech assumed for every word (n, v, a, r); "auto" takes the first of
    # verb, noun, adjective, adverb that WordNet knows the word as (a heuristic without a tagger).
    pos: Literal["n", "v", "a", "r", "auto"] = "n"

    @model_validator(mode="after")
    def _check_backend(self) -> "Lemmatize":
        if self.backend == "spacy_pipeline":
            if not self.model:
                raise ValueError("backend 'spacy_pipeline' needs model (e.g. en_core_web_sm)")
            if self.lowercase_lookup:
                raise ValueError("lowercase_lookup applies to the lookup and wordnet backends only")
        elif self.model is not None:
            raise ValueError(f"model is only used with backend 'spacy_pipeline', not {self.backend!r}")
        if self.backend != "wordnet" and self.pos != "n":
            raise ValueError("pos is only used with backend 'wordnet'")
        if self.backend == "wordnet" and self.language not in ("en", "english"):
            raise ValueError(f"WordNet is English only (language {self.language!r})")
        return self

    def process(self, value: list[Token]) -> list[Token]:
        """Lemmatize every token, keeping its offsets."""
        if self.backend == "spacy_pipeline":
            return self.process_batch([value])[0]
        if self.backend == "wordnet":
            return _rewrite(value, _wordnet_memo(self.pos, self.lowercase_lookup))
        table = _lookup_memo(self.language, self.lowercase_lookup)
        return _rewrite(value, table) if self.lowercase_lookup else _rewrite_known(value, table)

    def process_batch(self, values: list[list[Token]]) -> list[list[Token]]:
        """Lemmatize many token lists; the pipeline backend runs them through spaCy in batches."""
        if self.backend != "spacy_pipeline":
            return [self.process(v) for v in values]
        from spacy.tokens import Doc

        nlp = resources.spacy_pipeline(self.model)
        # The tagger needs context, so each token list becomes one Doc over exactly these words
        # (spaCy rejects empty words; those tokens are passed through untouched).
        words = [[t for t in v if t.text] for v in values]
        docs = [Doc(nlp.vocab, words=[t.text for t in ws], spaces=_spaces(ws)) for ws in words]
        out = []
        for v, doc in zip(values, nlp.pipe(docs)):
            lemmas = iter(doc)
            rewritten = []
            for t in v:
                new = (next(lemmas).lemma_ or t.text) if t.text else t.text
                rewritten.append(t if new == t.text else Token._make((new, t.start, t.end)))
            out.append(rewritten)
        return out


def _spaces(tokens: list[Token]) -> list[bool]:
    # A token is followed by a space when the next one does not start where it ends.
    return [a.end < b.start for a, b in zip(tokens, tokens[1:])] + [False] * bool(tokens)
