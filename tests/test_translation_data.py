"""Translation data: numbers in words, the Ding dictionary, the SWORD Bibles, the user's TSV,
vocabularies with <pad> <bos> <eos> <unk>, and the id arrays Seq2SeqBatches takes.

Every split is pinned by a digest of its first pairs, so a change in a parsing or split
rule (or in the data a Debian package or num2words ships) fails here first.
"""

import hashlib
import struct
import zlib

import numpy as np
import pytest

from rnnkit.data import translation as tr
from rnnkit.data import sword
from rnnkit.data.vocab import Vocabulary
from rnnkit.datasets import DatasetNotInstalled
from rnnkit.errors import InputError, MissingFileError
from rnnkit.training import Seq2SeqBatches

BOM = "\ufeff".encode("utf-8")
needs_ding = pytest.mark.skipif(not tr.DING_PATH.is_file(),
                                reason="Ding not installed (apt-get install trans-de-en)")
needs_bibles = pytest.mark.skipif(
    not all((sword.SWORD_DIR / "mods.d" / f"{m}.conf").is_file() for m in tr.BIBLE_MODULES.values()),
    reason="SWORD Bibles not installed (apt-get install sword-text-kjv sword-text-sparv)")


def digest(pairs, n=50) -> str:
    text = "\n".join(f"{a}\t{b}" for a, b in pairs[:n])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# -- the split rule ---------------------------------------------------------------------------

def test_split_of_is_a_fixed_hash_of_key_and_salt():
    assert [tr.split_of(str(n), "numbers") for n in range(8)] == \
        ["val", "train", "test", "train", "train", "train", "train", "train"]
    assert tr.split_of("Gen.1.1", "bible") == "train"
    counts = {s: 0 for s in tr.SPLITS}
    for n in range(10_000):
        counts[tr.split_of(str(n), "numbers")] += 1
    assert counts == {"train": 8972, "val": 501, "test": 527}


# -- numbers in words -------------------------------------------------------------------------

def test_numbers_are_written_in_words_in_both_languages():
    pytest.importorskip("num2words")
    pairs = dict(p for s in tr.SPLITS for p in tr.number_pairs("fr-en", s, high=200))
    assert len(pairs) == 200                                   # every number, in some split
    assert pairs["vingt et un"] == "twenty-one"
    assert pairs["soixante et onze"] == "seventy-one"
    assert pairs["quatre-vingts"] == "eighty"
    assert pairs["quatre-vingt-dix-neuf"] == "ninety-nine"
    assert pairs["cent un"] == "one hundred and one"
    assert tr.number_pairs("en-fr", "test", high=20) == [("two", "deux"), ("eighteen", "dix-huit")]
    assert tr.number_pairs("de-es", "test", high=3) == [("zwei", "dos")]


def test_number_splits_are_disjoint_and_keep_their_numbers_for_every_high():
    pytest.importorskip("num2words")
    splits = {s: tr.number_pairs("fr-en", s, high=3000) for s in tr.SPLITS}
    sources = {s: {src for src, _ in pairs} for s, pairs in splits.items()}
    assert not (sources["train"] & sources["val"] or sources["train"] & sources["test"]
                or sources["val"] & sources["test"])
    assert sum(map(len, sources.values())) == 3000
    smaller = tr.number_pairs("fr-en", "val", high=1000)
    assert smaller == [p for p in splits["val"] if p in smaller] and len(smaller) > 0
    assert set(smaller) <= set(splits["val"])


def test_number_val_and_test_splits_are_fixed():
    pytest.importorskip("num2words")
    val, test = tr.number_pairs("fr-en", "val"), tr.number_pairs("fr-en", "test")
    assert (len(val), len(test)) == (501, 527)
    assert val[:2] == [("zéro", "zero"), ("seize", "sixteen")]
    assert digest(val) == "3e7dd8b29e59c984"
    assert digest(test) == "8185f21a167ec753"
    assert test[-1] == ("neuf mille neuf cent soixante-quinze",
                        "nine thousand, nine hundred and seventy-five")


@pytest.mark.parametrize("pair", ["xx-en", "fr", "fr-fr", "fr-en-de", "fr_en", 5])
def test_a_bad_language_pair_is_one_line_naming_the_languages(pair):
    pytest.importorskip("num2words")
    with pytest.raises(InputError, match=r"^pair must be 'src-tgt' .*\bfr\b.*got") as excinfo:
        tr.number_pairs(pair, "train", high=10)
    one_line(excinfo)


def test_bad_split_and_high_are_refused():
    with pytest.raises(InputError, match=r"split must be one of \('train', 'val', 'test'\), got 'dev'"):
        tr.number_pairs("fr-en", "dev")
    with pytest.raises(InputError, match="high must be"):
        tr.number_pairs("fr-en", "train", high=0)


# -- the user's pairs -------------------------------------------------------------------------

def test_read_pairs_reads_tabs_skips_blank_lines_and_keeps_quotes(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(BOM + 'Guten Tag.\tGood day.\r\n\r\n  \n "Ja," sagte er. \t"Yes," he said.\n'
                     .encode("utf-8"))
    assert tr.read_pairs(path) == [("Guten Tag.", "Good day."), ('"Ja," sagte er.', '"Yes," he said.')]


@pytest.mark.parametrize("content, message", [
    ("a\tb\n\nno tab here\n", "line 3: expected 'source<TAB>target' (one tab), found no tab"),
    ("a\tb\nc\td\te\n", "line 2: expected 'source<TAB>target' (one tab), found 2 tabs"),
    ("a\tb\n \tb\n", "line 2: the source is empty"),
    ("a\tb\nx\ty\nc\t  \n", "line 3: the target is empty"),
])
def test_a_malformed_line_is_one_line_naming_file_and_line(tmp_path, content, message):
    path = tmp_path / "pairs.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as excinfo:
        tr.read_pairs(path)
    assert one_line(excinfo) == f"{path}, {message}"


def test_read_pairs_refuses_other_encodings_missing_and_empty_files(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("caf\u00e9\tcoffee\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"^pairs file '.*latin1\.tsv' is not UTF-8 text "
                                         r"\(invalid byte 0xe9 at offset 3\)"):
        tr.read_pairs(path)
    with pytest.raises(MissingFileError, match="does not exist"):
        tr.read_pairs(tmp_path / "nope.tsv")
    (tmp_path / "blank.tsv").write_text("\n \n", encoding="utf-8")
    with pytest.raises(InputError, match="holds no pairs"):
        tr.read_pairs(tmp_path / "blank.tsv")


# -- the Ding dictionary ----------------------------------------------------------------------

DING_SAMPLE = """\
# Version :: devel 2023-01-30
Aal {m} (auf der Speisekarte) [cook.] | Aal blau; blauer Aal :: Eel (on a menu) | Eel au bleu; Eel steamed
annehmbar; passabel {adj} | halbwegs annehmbar | in Ordnung sein | Seine Noten sind passabel. :: decent; respectable | half-decent | to be decent | His marks are decent / respectable.
blanko {adv} | einen Scheck blanko ausstellen :: in blank | to issue a blank cheque/check
Armenrecht {n} [jur.] ~Prozesskostenhilfe | das Recht der Armen /AR/ vor Gericht :: in forma pauperis /IFP/ ~legal aid | the right of the poor in court
etw. ausblenden {vt} (nicht mehr anzeigen) [comp.] | etw. ganz und gar ausblenden :: to hide {hid; hidden} sth. | to hide sth. completely
Das ist doch nicht möglich. :: That really isn't possible.
Das ist doch nicht möglich. :: That really isn't possible.
Er hat drei Senses | und hier zwei :: only one sense here
eine Reihe von Dingen <Dinge> (allgemein) :: a number of things <things>; several things
in forma pauperis {adv} :: in forma pauperis
ein gutes Verhalten (zeigen) {n} :: good behavio(u)r shown [Am.]
"""


def test_parse_ding_keeps_long_enough_first_synonyms_without_annotations():
    assert tr.parse_ding(DING_SAMPLE) == [
        ("in Ordnung sein", "to be decent"),
        ("das Recht der Armen vor Gericht", "the right of the poor in court"),
        ("etw. ganz und gar ausblenden", "to hide sth. completely"),
        ("Das ist doch nicht möglich.", "That really isn't possible."),
        ("eine Reihe von Dingen", "a number of things"),
        ("ein gutes Verhalten", "good behavior shown"),              # "(u)" inside a word goes
    ]
    two = tr.parse_ding(DING_SAMPLE, min_words=2)
    assert ("Aal blau", "Eel au bleu") in two and ("etw. ausblenden", "to hide sth.") in two
    assert ("halbwegs annehmbar", "half-decent") not in two                  # one English word
    assert not any("/" in de + en for de, en in two)                         # "cheque/check" dropped


def test_ding_pairs_split_by_the_german_side_in_both_directions(tmp_path):
    path = tmp_path / "de-en"
    lines = [f"Satz Nummer {n} hier. :: Sentence number {n} here." for n in range(300)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    splits = {s: tr.ding_pairs(s, path=path) for s in tr.SPLITS}
    assert sorted(p for ps in splits.values() for p in ps) == sorted(tr.parse_ding(path.read_text()))
    assert all(tr.split_of(de, "ding") == s for s, ps in splits.items() for de, _ in ps)
    assert tr.ding_pairs("val", "en-de", path=path) == [(en, de) for de, en in splits["val"]]
    with pytest.raises(InputError, match="direction must be 'de-en' or 'en-de', got 'de-fr'"):
        tr.ding_pairs("val", "de-fr", path=path)


def test_ding_not_installed_says_the_apt_get_command(tmp_path):
    with pytest.raises(DatasetNotInstalled, match=r"apt-get install trans-de-en$") as excinfo:
        tr.ding_pairs("train", path=tmp_path / "de-en")
    assert isinstance(excinfo.value, MissingFileError)
    one_line(excinfo)


@needs_ding
def test_the_installed_ding_splits_are_fixed():
    splits = {s: tr.ding_pairs(s) for s in tr.SPLITS}
    assert {s: len(p) for s, p in splits.items()} == {"train": 45201, "val": 2516, "test": 2523}
    assert splits["train"][0] == ("das A und O", "the nuts and bolts")
    assert {s: digest(p) for s, p in splits.items()} == {
        "train": "1536a111b6b969cf", "val": "66ca7a075e43bb86", "test": "835b1d10c4e3ae01"}


# -- SWORD modules ----------------------------------------------------------------------------

def write_ztext(directory, blocks, entries):
    """A zText testament "ot" in ``directory``: ``blocks`` of text, ``entries`` (block, start, length)."""
    compressed = [zlib.compress(b.encode("utf-8")) for b in blocks]
    offsets = np.cumsum([0] + [len(c) for c in compressed[:-1]])
    (directory / "ot.bzz").write_bytes(b"".join(compressed))
    (directory / "ot.bzs").write_bytes(b"".join(
        struct.pack("<III", int(o), len(c), len(b.encode("utf-8")))
        for o, c, b in zip(offsets, compressed, blocks)))
    (directory / "ot.bzv").write_bytes(b"".join(struct.pack("<IIH", *e) for e in entries))


def test_read_ztext_entries_decompresses_each_block_and_slices_each_entry(tmp_path):
    write_ztext(tmp_path, ["headingIn the beginning", "Ánd then"],
                [(0, 0, 0), (0, 0, 7), (0, 7, 16), (1, 0, 4), (1, 5, 4), (1, 0, 0)])   # bytes: Á is 2
    assert sword.read_ztext_entries(tmp_path, "ot") == \
        ["", "heading", "In the beginning", "Ánd", "then", ""]


def test_verse_positions_skip_the_book_and_chapter_headings():
    assert sword.verse_positions([("Gen", [2, 1]), ("Exod", [1])]) == [
        ("Gen", 1, 1, 4), ("Gen", 1, 2, 5), ("Gen", 2, 1, 7), ("Exod", 1, 1, 10)]


def test_strip_markup_drops_notes_and_headings_and_keeps_the_words():
    osis = ('<div type="x-milestone" subType="x-preverse" sID="pv1"/><title canonical="true" '
            'type="psalm">A <w lemma="strong:H4210">Psalm</w> of David.</title> <l level="1" '
            'sID="g1"/>¶ The <divineName><w lemma="strong:H3068">LORD</w></divineName> '
            '<transChange type="added">is</transChange> my <w lemma="strong:H7462">shepherd</w> ;'
            '<note placement="foot"><reference type="annotateRef">1.4 </reference>Heb. '
            'between</note> <title><foreign>א ALEPH.</foreign></title>¡ <w>OH</w> !')
    assert sword.strip_markup(osis) == "A Psalm of David. The LORD is my shepherd; ¡OH!"
    assert sword.strip_markup("In the <WH07225>beginning<RF>a note<Rf> God") == \
        "In the beginning God"


def test_a_missing_module_is_a_missing_file_and_the_bible_loader_names_apt_get(tmp_path):
    (tmp_path / "mods.d").mkdir()
    (tmp_path / "mods.d" / "engkjv2006eb.conf").write_text("[engKJV2006eb]\nModDrv=RawText\n")
    assert sword.read_conf("engKJV2006eb", tmp_path)["ModDrv"] == "RawText"
    with pytest.raises(InputError, match="only zText modules are read"):
        sword.read_bible("engKJV2006eb", tmp_path)
    with pytest.raises(MissingFileError, match="'spaRV1909eb' is not installed"):
        sword.read_bible("spaRV1909eb", tmp_path)
    with pytest.raises(DatasetNotInstalled,
                       match=r"apt-get install sword-text-kjv sword-text-sparv$") as excinfo:
        tr.bible_pairs("train", library=tmp_path / "empty")
    one_line(excinfo)


def test_rv1909_chapter_opening_capitals_are_lowered():
    fix = tr._rv1909_text
    assert fix("Gen.1.1", "EN el principio crió Dios") == "En el principio crió Dios"
    assert fix("Gen.2.1", "Y FUERON acabados") == "Y fueron acabados"
    assert fix("Ps.23.1", "Salmo de David. JEHOVÁ es mi pastor") == "Salmo de David. Jehová es mi pastor"
    assert fix("Ps.3.1", "Salmo. ¡OH Jehová") == "Salmo. ¡Oh Jehová"
    assert fix("Ps.119.9", "BETH ¿Con qué") == "¿Con qué"
    assert fix("Ps.119.17", "GIMEL. Haz bien á tu siervo") == "Haz bien á tu siervo"
    assert fix("Ps.119.1", "ALEPH. BIENAVENTURADOS los perfectos") == "Bienaventurados los perfectos"
    assert fix("Luke.23.38", "ESTE ES EL REY") == "ESTE ES EL REY"               # not an opening
    assert fix("Exod.1.1", "Estos son los nombres de JEHOVÁ") == "Estos son los nombres de JEHOVÁ"


@needs_bibles
def test_the_installed_bibles_read_as_pysword_reads_them():
    modules = pytest.importorskip("pysword.modules")
    library = modules.SwordModules(str(sword.SWORD_DIR))
    library.parse_modules()
    for name in tr.BIBLE_MODULES.values():
        verses = sword.read_bible(name)
        assert len(verses) == 31102
        bible = library.get_bible_from_module(name)
        for ref in ("Gen.1.1", "Ps.23.1", "Mal.4.6", "Matt.1.1", "John.3.16", "Rev.22.21"):
            book, chapter, verse = ref.split(".")
            raw = bible.get(books=[book], chapters=[int(chapter)], verses=[int(verse)], clean=False)
            assert sword.strip_markup(raw) == verses[ref]
    assert sword.read_bible("engKJV2006eb")["John.3.16"].startswith(
        "For God so loved the world, that he gave his only begotten Son,")


@needs_bibles
def test_the_installed_bible_splits_are_fixed():
    pytest.importorskip("pysword")
    splits = {s: tr.bible_pairs(s) for s in tr.SPLITS}
    assert {s: len(p) for s, p in splits.items()} == {"train": 27569, "val": 1558, "test": 1519}
    assert splits["train"][0] == ("En el principio crió Dios los cielos y la tierra.",
                                  "In the beginning God created the heaven and the earth.")
    assert {s: digest(p) for s, p in splits.items()} == {
        "train": "1e3a64bf9fe0c1ce", "val": "d7ce2be88b54873a", "test": "c1a4e37ff57caadd"}
    english_first = tr.bible_pairs("val", "en-es")
    assert english_first == [(en, es) for es, en in splits["val"]]
    everything = [p for ps in splits.values() for p in ps]
    spanish = {es for es, _ in everything}
    assert "Mas Jehová había prevenido un gran pez que tragase á Jonás: y estuvo Jonás en el " \
        "vientre del pez tres días y tres noches." not in spanish          # Jonah 2 is shifted
    assert "Salmo de David. Jehová es mi pastor; nada me faltará." in spanish
    assert not any(("<" in es + en) or ("¶" in en) for es, en in everything)


# -- vocabularies with <bos> and <eos> ----------------------------------------------------------

def test_vocabulary_gives_pad_bos_eos_unk_the_first_ids_and_stores_them():
    vocab = Vocabulary.build(["ab", "ba"], pad_token="<pad>", bos_token="<bos>",
                             eos_token="<eos>", unk_token="<unk>")
    assert vocab.tokens == ("<pad>", "<bos>", "<eos>", "<unk>", "a", "b")
    assert (vocab.pad_id, vocab.bos_id, vocab.eos_id, vocab.unk_id) == (0, 1, 2, 3)
    assert vocab.special_ids == (0, 1, 2, 3)
    assert vocab.encode("a<eos>").tolist() == [4, 3, 3, 3, 3, 3]          # text never makes a special
    again = Vocabulary.from_dict(vocab.to_dict())
    assert again == vocab and again.eos_id == 2
    with pytest.raises(InputError, match="eos_token '<end>' is not among the tokens"):
        Vocabulary(["a"], eos_token="<end>")
    with pytest.raises(InputError, match="the special tokens must be distinct"):
        Vocabulary(["<s>", "a"], bos_token="<s>", eos_token="<s>")


def test_a_vocabulary_without_bos_and_eos_is_stored_as_before():
    vocab = Vocabulary.build("abc", unk_token="<unk>", pad_token="<pad>")
    assert vocab.to_dict() == {"level": "char", "tokens": ["<pad>", "<unk>", "a", "b", "c"],
                               "unk_token": "<unk>", "pad_token": "<pad>", "lowercase": False,
                               "keep_newlines": True}
    assert (vocab.bos_id, vocab.eos_id, vocab.special_ids) == (None, None, (0, 1))


# -- ids for Seq2SeqBatches ---------------------------------------------------------------------

PAIRS = [("vingt et un", "twenty-one"), ("deux", "two"), ("vingt-deux", "twenty-two")]


def test_char_vocabularies_and_encoded_pairs_end_targets_with_eos():
    src, tgt = tr.build_vocabularies(PAIRS)
    assert src.tokens[:4] == (tr.PAD, tr.BOS, tr.EOS, tr.UNK) == tgt.tokens[:4]
    assert (tgt.pad_id, tgt.bos_id, tgt.eos_id, tgt.unk_id) == (tr.PAD_ID, tr.BOS_ID, tr.EOS_ID, tr.UNK_ID)
    assert src.tokens[4:] == tuple(sorted(set("vingt et undeuxvingt-deux")))
    sources, targets = tr.encode_pairs(PAIRS + [("vingt-sept", "twenty-seven")], src, tgt)
    assert [s.dtype for s in sources + targets] == [np.int64] * 8
    assert sources[1].tolist() == [src.token_to_id(c) for c in "deux"]
    assert targets[1].tolist() == [tgt.token_to_id(c) for c in "two"] + [2]
    assert sources[3].tolist().count(3) == 2                                 # 's' and 'p' unknown
    assert tr.decode_ids(targets[3], tgt) == "twenty-<unk>e<unk>en"
    assert tr.decode_ids([1, *targets[0].tolist(), 5, 0], tgt) == "twenty-one"   # stops at <eos>


def test_word_vocabularies_cut_rare_words_to_unk():
    pairs = [("le chat noir", "the black cat"), ("le chien", "the dog"), ("le chat", "the cat")]
    src, tgt = tr.build_vocabularies(pairs, level="word")                   # min_count 2
    assert src.tokens[4:] == ("le", "chat") and tgt.tokens[4:] == ("the", "cat")
    sources, targets = tr.encode_pairs([("le chien noir", "the dog")], src, tgt)
    assert sources[0].tolist() == [4, 3, 3] and targets[0].tolist() == [4, 3, 2]
    assert tr.decode_ids(targets[0], tgt) == "the <unk>"


def test_encoded_pairs_make_seq2seq_batches_padded_with_zero():
    src, tgt = tr.build_vocabularies(PAIRS)
    sources, targets = tr.encode_pairs(PAIRS, src, tgt)
    batch = Seq2SeqBatches(sources, targets, batch_size=3, shuffle=False).batch(0, 0)
    assert batch.inputs.shape == (11, 3) and batch.targets.shape == (11, 3)   # "twenty-one" + <eos>
    assert batch.lengths.tolist() == [11, 4, 10] and batch.target_lengths.tolist() == [11, 4, 11]
    assert batch.targets[batch.target_lengths - 1, [0, 1, 2]].tolist() == [2, 2, 2]
    assert batch.targets[4:, 1].tolist() == [0] * 7 and batch.inputs[4:, 1].tolist() == [0] * 7


def test_encode_pairs_refuses_what_it_cannot_encode():
    src, tgt = tr.build_vocabularies(PAIRS)
    with pytest.raises(InputError, match="pairs is empty"):
        tr.encode_pairs([], src, tgt)
    with pytest.raises(TypeError, match=r"pairs\[1\] must be a \(source, target\) pair of str"):
        tr.encode_pairs([("a", "b"), ("only one",)], src, tgt)
    with pytest.raises(InputError, match="tgt_vocab needs an eos_token"):
        tr.encode_pairs(PAIRS, src, Vocabulary.build("two"))
    with pytest.raises(InputError, match=r"pairs\[0\]: the source 'xyz' has no token"):
        tr.encode_pairs([("xyz", "two")], Vocabulary.build("abc"), tgt)
