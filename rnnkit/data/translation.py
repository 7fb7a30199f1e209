"""Parallel text for machine translation: three corpora, the user's TSV, vocabularies and ids.

Every loader returns a list of ``(source, target)`` string pairs of one split. A pair's
split is fixed by a hash of its key (below), so it never changes between runs,
machines or versions of the data around it::

    bucket = int(sha256(SALT + "\\0" + key)[:16 hex digits]) % 100
    train: bucket 0..89     val: 90..94     test: 95..99

Numbers in words -- ``number_pairs(pair="fr-en", split, high=10_000)``
    Every integer ``0 <= n < high`` written out by ``num2words`` (PyPI, LGPL-2.1, imported
    lazily; a library rnnkit calls unmodified, so its licence puts nothing on rnnkit's):
    ``(num2words(n, lang=src), num2words(n, lang=tgt))``, e.g. fr-en 21 -> ("vingt et un",
    "twenty-one"), 80 -> ("quatre-vingts", "eighty"). ``pair`` is "src-tgt", any two of
    num2words' languages (``num2words.CONVERTER_CLASSES``: "fr", "en", "de", "es",
    "fr_BE", ...). Key: the digits of ``n`` (salt "numbers"), so a number held out is held
    out for every pair and every ``high``. The default 0..9,999 (8,972 train / 501 val /
    527 test) is small enough to train on a CPU and still asks a model to compose
    French's vigesimal tens (soixante-dix, quatre-vingt-dix-neuf) into English; ``high=100_000``
    (90,055 / 4,971 / 4,974, up to 61 characters) is the harder version and takes ~15 s
    to generate. Characters are the natural tokens (23 French, 21 English symbols).

Ding German-English dictionary -- ``ding_pairs(split, direction="de-en", min_words=3)``
    Frank Richter's Ding dictionary (GPL-2+), Debian package ``trans-de-en``:
    ``/usr/share/trans/de-en`` (version 1.9, 25.6 MB): 206,233 entries ``German :: English``
    after a 5-line header, each side's senses separated by ``" | "`` (aligned one to one),
    a sense's synonyms by ``";"``.
    Rule (:func:`parse_ding`): for each line whose two sides have as many senses, and
    each sense pair: remove annotations -- ``{f}``, ``{vt}``, ``[Br.]``, ``[coll.]``,
    ``(zoologische Familie)``, ``<alternative spellings>``, ``/abbreviations/``,
    ``~cross-references``, optional letters: "behavio(u)r" -> "behavior" --; keep the
    *first* synonym of each side; drop the pair if a side still holds ``/``
    (alternatives: "cheque/check"), ``…`` or ``...``, a bracket, or has fewer than
    ``min_words`` words, or if the two sides are equal; then drop repeated pairs (first
    kept, file order). Dictionary placeholders (``etw.``, ``jdm.``,
    ``sth.``, ``sb.``) stay. With ``min_words=3``: 50,240 pairs (45,201 / 2,516 / 2,523),
    17,540 of them sentences on both sides ("Sein Gehalt wurde gekürzt." -> "His salary
    was cut."), the rest phrases ("für etw. büßen" -> "to make amends for sth."). Key:
    the German side (salt "ding"), so a German phrase with several translations sits in
    one split and both directions share the split. Word vocabularies of the train split
    (``min_count=2``): 14,925 German, 12,831 English; unknown test tokens 13% / 6%.

King James Bible / Reina-Valera 1909 -- ``bible_pairs(split, direction="es-en")``
    Debian ``sword-text-kjv`` (module engKJV2006eb, KJV 1769 text, public domain outside
    the UK, where the Crown's letters patent restrict printing) and ``sword-text-sparv``
    (spaRV1909eb, public domain), both in KJV versification, read with
    :mod:`rnnkit.data.sword` (markup and Strong's numbers stripped) and paired by verse
    reference. RV1909's own verse numbering differs in a few chapters (Num 12-13, Job
    38-41, Hosea 11-12, Jonah 1-2, ...): its text there runs one verse ahead or merges two.
    So a *chapter* is dropped when either Bible lacks one of its verses, or when its
    verse lengths disagree: the mean over its verses of
    ``|log(len(es)/len(en)) - m|`` (``m`` the mean over all verses, -0.08) exceeds 0.25
    (the kept chapters score at most 0.22, the shifted ones 0.27 and more). Dropped: 19
    chapters, 456 verses; kept 30,646 pairs (27,569 / 1,558 / 1,519); train word
    vocabularies (``min_count=2``) 15,086 Spanish, 8,748 English, unknown test tokens
    3.0% / 0.9%. RV1909 prints a chapter's first word(s) in capitals ("EN el principio",
    "Y FUERON acabados") and heads Psalm 119's stanzas with the Hebrew letter ("ALEPH."):
    the capitals are lowered ("En el principio", "Y fueron acabados") and the letters
    dropped; "LORD" in the KJV stays. Key: the reference "Gen.1.1" (salt "bible").
    Parallel passages (2 Sam 22 and Ps 18, Kings and Chronicles) may fall in different
    splits.

The user's pairs -- ``read_pairs(path)``: a UTF-8 TSV ``source<TAB>target``, one pair a line.

Tokens and ids. Characters suit the numbers (a closed alphabet, every word made of
it); words with a frequency cut-off and ``<unk>`` suit Ding and the Bible, the classic
RNN translation set-up (Sutskever et al. 2014, Bahdanau et al. 2015), with rnnkit's
:func:`~rnnkit.data.tokenize.word_tokenize`. (Subword vocabularies such as BPE would
cut the unknowns further but add a learned segmenter; not here.)
:func:`build_vocabularies` makes one :class:`~rnnkit.data.vocab.Vocabulary` per side with
``<pad>`` = 0, ``<bos>`` = 1, ``<eos>`` = 2, ``<unk>`` = 3; :func:`encode_pairs` gives the
id arrays :class:`rnnkit.training.Seq2SeqBatches` takes, each target ending with ``<eos>``
(the decoder's first input is ``<bos>``; pad with 0).
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import statistics
from pathlib import Path

import numpy as np

from rnnkit._validation import check_scalar
from rnnkit.data.textfile import read_utf8
from rnnkit.data.vocab import Vocabulary
from rnnkit.errors import InputError, InputTypeError, MissingFileError

SPLITS = ("train", "val", "test")
PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
DING_PATH = Path("/usr/share/trans/de-en")
BIBLE_MODULES = {"en": "engKJV2006eb", "es": "spaRV1909eb"}
_BIBLE_PACKAGES = "sword-text-kjv sword-text-sparv"
_LENGTH_DISAGREEMENT = 0.25


def split_of(key: str, salt: str, train_percent: int = 90, val_percent: int = 5) -> str:
    """"train", "val" or "test" for ``key``: its sha256 bucket 0..99 below ``train_percent``,
    below ``train_percent + val_percent``, or the rest (default 90/5/5; see above)."""
    digest = hashlib.sha256(f"{salt}\0{key}".encode("utf-8")).hexdigest()
    bucket = int(digest[:16], 16) % 100
    return ("train" if bucket < train_percent else
            "val" if bucket < train_percent + val_percent else "test")


def _check_split(split) -> str:
    if split not in SPLITS:
        raise InputError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def _check_direction(direction, first: str, second: str) -> bool:
    """True when ``direction`` is "first-second", False for "second-first"."""
    allowed = (f"{first}-{second}", f"{second}-{first}")
    if direction not in allowed:
        raise InputError(f"direction must be {allowed[0]!r} or {allowed[1]!r}, got {direction!r}")
    return direction == allowed[0]


# -- numbers in words ---------------------------------------------------------------------

def number_pairs(pair: str = "fr-en", split: str = "train", high: int = 10_000):
    """The integers ``0 <= n < high`` of ``split`` in words, n ascending: ``[(src, tgt), ...]``.

    ``pair``: "src-tgt", two different languages of num2words (e.g. "fr-en", "de-es").
    """
    _check_split(split)
    high = check_scalar(high, "high", int, low=1, high=10**7)
    src, tgt = _check_pair(pair)
    return list(_number_pairs(src, tgt, split, high))


def _check_pair(pair) -> tuple[str, str]:
    try:
        from num2words import CONVERTER_CLASSES   # lazily: an `apps` extra
    except ImportError:
        raise ImportError("the numbers task needs num2words: pip install 'rnnkit[apps]'") from None
    languages = sorted(CONVERTER_CLASSES)
    parts = pair.split("-") if isinstance(pair, str) else []
    if len(parts) != 2 or parts[0] == parts[1] or not set(parts) <= set(languages):
        raise InputError(f"pair must be 'src-tgt' with two different languages of num2words "
                         f"({', '.join(languages)}), got {pair!r}")
    return parts[0], parts[1]


@functools.lru_cache(maxsize=8)
def _number_pairs(src: str, tgt: str, split: str, high: int) -> tuple[tuple[str, str], ...]:
    from num2words import num2words

    pairs = []
    for n in range(high):
        if split_of(str(n), "numbers") != split:
            continue
        try:
            pairs.append((num2words(n, lang=src), num2words(n, lang=tgt)))
        except Exception as exc:   # a language num2words lists but cannot write n in
            raise InputError(f"num2words cannot write {n} in {src!r} or {tgt!r} "
                             f"({type(exc).__name__}: {exc})") from None
    return tuple(pairs)


# -- the Ding dictionary ------------------------------------------------------------------

_ANNOTATION = re.compile(r"\{[^{}]*\}|\[[^\[\]]*\]|\([^()]*\)|<[^<>]*>")
_ABBREVIATION = re.compile(r"(?<!\S)/[^/\s][^/]*/(?!\S)")
_CROSS_REFERENCE = re.compile(r"~\S+")
_SPACE_BEFORE = re.compile(r" ([,.;:!?])")
_LEFT_OVER = re.compile(r"[/…{}\[\]()<>]|\.\.\.")


def ding_pairs(split: str = "train", direction: str = "de-en", min_words: int = 3,
               path=DING_PATH):
    """Ding's phrase and sentence pairs of ``split`` (see the module docstring), file order.

    ``direction``: "de-en" (German sources) or "en-de". Raises ``DatasetNotInstalled``
    (a ``MissingFileError``) when the dictionary is not installed.
    """
    _check_split(split)
    german_first = _check_direction(direction, "de", "en")
    min_words = check_scalar(min_words, "min_words", int, low=1)
    path = Path(path)
    if not path.is_file():
        from rnnkit.datasets import DatasetNotInstalled

        raise DatasetNotInstalled(f"the Ding dictionary is not installed ({path} is missing): "
                                  f"sudo apt-get install trans-de-en")
    pairs = _ding_all(str(path), min_words)
    chosen = [(de, en) for de, en in pairs if split_of(de, "ding") == split]
    return chosen if german_first else [(en, de) for de, en in chosen]


@functools.lru_cache(maxsize=2)
def _ding_all(path: str, min_words: int) -> tuple[tuple[str, str], ...]:
    return tuple(parse_ding(read_utf8(path, "Ding dictionary"), min_words))


def parse_ding(text: str, min_words: int = 3) -> list[tuple[str, str]]:
    """``(German, English)`` pairs of Ding-format ``text``, by the rule of the module docstring."""
    if not isinstance(text, str):
        raise InputTypeError(f"text must be a str, got {type(text).__name__}")
    pairs = {}
    for line in text.split("\n"):
        if line.startswith("#"):
            continue
        sides = line.split(" :: ")
        if len(sides) != 2:
            continue
        german, english = (side.split(" | ") for side in sides)
        if len(german) != len(english):
            continue
        for de, en in zip(german, english):
            # Annotations only remove words: a sense too short before cleaning stays too short.
            if len(de.split()) < min_words or len(en.split()) < min_words:
                continue
            de, en = _ding_phrase(de), _ding_phrase(en)
            if (de != en and len(de.split()) >= min_words and len(en.split()) >= min_words
                    and not _LEFT_OVER.search(de + en)):
                pairs.setdefault((de, en), None)
    return list(pairs)


def _ding_phrase(sense: str) -> str:
    """The first synonym of one Ding sense, its annotations removed."""
    # Innermost brackets first, "(a (b) c)"; removed without a space, because some mark
    # optional letters inside a word: "behavio(u)r", "Knopf(griff)akkordeon".
    previous = None
    while previous != sense:
        previous, sense = sense, _ANNOTATION.sub("", sense)
    sense = _CROSS_REFERENCE.sub(" ", _ABBREVIATION.sub(" ", sense))
    first = sense.split(";")[0]
    return _SPACE_BEFORE.sub(r"\1", " ".join(first.split()))


# -- the Bible, verse by verse ------------------------------------------------------------

def bible_pairs(split: str = "train", direction: str = "es-en", library=None):
    """KJV and RV1909 verse pairs of ``split``, canon order (see the module docstring).

    ``direction``: "es-en" (Spanish sources) or "en-es". ``library``: the SWORD
    directory (default ``/usr/share/sword``). Raises ``DatasetNotInstalled`` when a
    module is not installed.
    """
    _check_split(split)
    spanish_first = _check_direction(direction, "es", "en")
    from rnnkit.data.sword import SWORD_DIR

    verses = _aligned_verses(str(library or SWORD_DIR))
    chosen = [(es, en) for ref, es, en in verses if split_of(ref, "bible") == split]
    return chosen if spanish_first else [(en, es) for es, en in chosen]


@functools.lru_cache(maxsize=2)
def _aligned_verses(library: str) -> tuple[tuple[str, str, str], ...]:
    """``(reference, Spanish, English)`` of every verse of a kept chapter."""
    from rnnkit.data.sword import read_bible
    from rnnkit.datasets import DatasetNotInstalled

    try:
        english, spanish = (read_bible(BIBLE_MODULES[lang], library) for lang in ("en", "es"))
    except MissingFileError as exc:
        raise DatasetNotInstalled(f"{exc}: sudo apt-get install {_BIBLE_PACKAGES}") from None
    chapters: dict[str, list[str]] = {}
    for ref in english:
        chapters.setdefault(ref.rsplit(".", 1)[0], []).append(ref)
    ratios = [math.log(len(spanish[r]) / len(english[r]))
              for r in english if spanish.get(r) and english[r]]
    centre = statistics.fmean(ratios)
    kept = []
    for chapter, refs in chapters.items():
        pairs = [(ref, _rv1909_text(ref, spanish.get(ref, "")), english[ref]) for ref in refs]
        if not all(es and en for _, es, en in pairs):
            continue
        disagreement = statistics.fmean(abs(math.log(len(spanish[r]) / len(english[r])) - centre)
                                        for r in refs)
        if disagreement <= _LENGTH_DISAGREEMENT:
            kept.extend(pairs)
    return tuple(kept)


_UPPER = r"[^\W\d_a-zß-ÿ]"                      # a letter that is not lower case
_OPENING_CAPITALS = re.compile(rf"(^[¡¿]?|\. [¡¿]?)((?:{_UPPER}+ )*{_UPPER}{{2,}})\b")
_STANZA_LETTER = re.compile(r"^[A-Z]{2,}\.? ")


def _rv1909_text(ref: str, text: str) -> str:
    """RV1909's chapter-opening capitals lowered, Psalm 119's stanza letters dropped."""
    book_chapter, verse = ref.rsplit(".", 1)
    opening = verse == "1"
    if book_chapter == "Ps.119" and int(verse) % 8 == 1:     # a stanza starts: "BETH ¿Con qué..."
        text, opening = _STANZA_LETTER.sub("", text), True
    if opening:   # the first run of capitals at the start or after a heading ("Salmo de David. ")
        text = _OPENING_CAPITALS.sub(
            lambda m: m.group(1) + m.group(2)[0] + m.group(2)[1:].lower(), text, count=1)
    return text


# -- the user's pairs ---------------------------------------------------------------------

def read_pairs(path) -> list[tuple[str, str]]:
    """``(source, target)`` pairs of a UTF-8 TSV file, ``source<TAB>target`` one a line.

    Blank lines are skipped and each side is stripped of surrounding spaces; a
    byte-order mark is dropped. Raises ``InputError`` "FILE, line N: ..." for a line
    without a tab, with more than one, or with an empty side; ``MissingFileError``
    when the file is not there.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"pairs file {str(path)!r} does not exist")
    # Lines, not csv rows: a quote is ordinary text in a sentence, not a field delimiter.
    pairs = []
    for number, line in enumerate(read_utf8(path, "pairs file").split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        where = f"{path}, line {number}"
        if len(fields) != 2:
            found = "no tab" if len(fields) == 1 else f"{len(fields) - 1} tabs"
            raise InputError(f"{where}: expected 'source<TAB>target' (one tab), found {found}")
        source, target = (field.strip() for field in fields)
        if not source or not target:
            raise InputError(f"{where}: the {'source' if not source else 'target'} is empty")
        pairs.append((source, target))
    if not pairs:
        raise InputError(f"pairs file {str(path)!r} holds no pairs")
    return pairs


# -- vocabularies and ids -----------------------------------------------------------------

def build_vocabularies(pairs, level: str = "char", min_count: int | None = None,
                       max_size: int | None = None, lowercase: bool = False):
    """``(source vocabulary, target vocabulary)`` of ``pairs``; ``<pad> <bos> <eos> <unk>`` = 0..3.

    ``level``: "char" or "word". ``min_count``: keep tokens seen at least this often
    (default 1 for characters, 2 for words: a word seen once is better learnt as
    ``<unk>``). ``max_size``: at most this many tokens a side, specials included.
    """
    pairs = _check_pairs(pairs)
    if min_count is None:
        min_count = 2 if level == "word" else 1
    vocabularies = []
    for side in (0, 1):
        vocabularies.append(Vocabulary.build(
            [pair[side] for pair in pairs], level=level, min_count=min_count,
            max_size=max_size, unk_token=UNK, pad_token=PAD, bos_token=BOS, eos_token=EOS,
            lowercase=lowercase, keep_newlines=False))
    return tuple(vocabularies)


def encode_pairs(pairs, src_vocab: Vocabulary, tgt_vocab: Vocabulary):
    """``(sources, targets)``: lists of int64 id arrays, each target ending with ``<eos>``.

    Unknown tokens become ``<unk>`` (or are skipped by a vocabulary without one).
    Ready for ``Seq2SeqBatches(sources, targets, batch_size, pad_value=src_vocab.pad_id,
    target_pad_value=tgt_vocab.pad_id)``.
    """
    pairs = _check_pairs(pairs)
    if tgt_vocab.eos_id is None:
        raise InputError("tgt_vocab needs an eos_token (build it with build_vocabularies)")
    eos = np.array([tgt_vocab.eos_id], np.int64)
    sources, targets = [], []
    for n, (source, target) in enumerate(pairs):
        ids = src_vocab.encode(source)                                     # (L_n,)
        if ids.size == 0:
            raise InputError(f"pairs[{n}]: the source {source!r} has no token in the vocabulary")
        sources.append(ids)
        targets.append(np.concatenate([tgt_vocab.encode(target), eos]))    # (S_n,)
    return sources, targets


def decode_ids(ids, vocab: Vocabulary) -> str:
    """Text of a decoder's output ids: up to the first ``<eos>``; ``<bos>``, ``<pad>`` dropped."""
    ids = np.asarray(ids)
    if vocab.eos_id is not None and ids.ndim == 1:
        ends = np.flatnonzero(ids == vocab.eos_id)
        ids = ids[:ends[0]] if ends.size else ids
    if vocab.bos_id is not None and ids.ndim == 1:
        ids = ids[ids != vocab.bos_id]
    return vocab.decode(ids)


def _check_pairs(pairs) -> list[tuple[str, str]]:
    pairs = list(pairs)
    if not pairs:
        raise InputError("pairs is empty")
    for n, pair in enumerate(pairs):
        if (not isinstance(pair, (tuple, list)) or len(pair) != 2
                or not all(isinstance(side, str) for side in pair)):
            raise InputTypeError(f"pairs[{n}] must be a (source, target) pair of str, got {pair!r}")
    return pairs
