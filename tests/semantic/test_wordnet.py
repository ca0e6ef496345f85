"""WordNet 3.0 loading (nltk data or Debian's folder) and the noun vocabulary."""

import os
import threading
import zipfile
from pathlib import Path

import nltk
import numpy as np
import pytest

from skclip.semantic import load_wordnet, wordnet_nouns
from skclip.semantic import _wordnet, _wordnet_files
from skclip.semantic._wordnet_files import _build_readable_copy, lexnames_text
from tests.conftest import skip_or_fail


@pytest.fixture(scope="module")
def nouns(wordnet, tmp_path_factory):
    # module fixtures run before conftest's function-scoped cache isolation: isolate here
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKCLIP_CACHE", str(tmp_path_factory.getbasetemp() / "skclip-cache"))
        return wordnet_nouns()


def test_reader_is_wordnet_30(wordnet):
    assert wordnet.get_version() == "3.0"
    assert load_wordnet() is wordnet  # one reader per folder and process


def test_dog_depth_and_hypernyms(wordnet):
    dog = wordnet.synset("dog.n.01")
    assert dog.min_depth() == 8
    hyper = {s.name() for s in dog.closure(lambda s: s.hypernyms())}
    assert "canine.n.02" in hyper


def test_noun_synset_count(nouns):
    assert len(nouns.all_synsets) == 82115
    assert len(set(nouns.synsets)) == 82115
    assert len(nouns) == 146347  # (lemma, synset) pairs: TAC's WordNetNouns.csv


def test_records_carry_depth_and_ancestors(nouns):
    i = nouns.synsets.index("dog.n.01")
    assert nouns.names[i] == "dog"
    assert nouns.depths[i] == 8
    anc = nouns.ancestors(i)
    assert "canine.n.02" in anc and "entity.n.01" in anc and "dog.n.01" not in anc
    # 'Canis familiaris' is the second lemma of dog.n.01: same synset, same depth
    j = nouns.names.index("Canis familiaris")
    assert nouns.synsets[j] == "dog.n.01" and nouns.depths[j] == 8
    assert nouns.depths[nouns.synsets.index("entity.n.01")] == 0


def test_depths_and_ancestors_match_nltk(wordnet, nouns, rng):
    for i in rng.choice(len(nouns), 200, replace=False):
        syn = wordnet.synset(nouns.synsets[i])
        assert nouns.depths[i] == syn.min_depth()
        expected = {s.name() for s in syn.closure(lambda s: s.hypernyms() + s.instance_hypernyms())}
        assert set(nouns.ancestors(i)) == expected


def test_parse_matches_nltk(wordnet, nouns, rng):
    """The direct file parser gives nltk's synset names, lemma names and sense ranks."""
    from skclip.semantic._wordnet_parse import _morphy, _read_exceptions, _read_index, _lines

    pointer = _wordnet_files._locate(None)
    index = _read_index(_lines(pointer, "index.noun"))
    exceptions = _read_exceptions(_lines(pointer, "noun.exc"))
    # records whose lemma has base forms of its own ("glasses" -> "glass"): the order
    # of wn.synsets() then spans several index entries
    inflected = [i for i, n in enumerate(nouns.names)
                 if len(_morphy(n.replace(" ", "_").lower(), index, exceptions)) > 1]
    assert len(inflected) > 100
    picks = np.concatenate([rng.choice(len(nouns), 150, replace=False),
                            rng.choice(inflected, 100, replace=False)])
    for i in picks:
        syn = wordnet.synset(nouns.synsets[i])  # nltk finds the same name
        s = nouns.synset_index[i]
        assert tuple(syn.lemma_names()) == nouns.all_lemmas[s]
        for lemma, rank in zip(nouns.all_lemmas[s], _ranks_of(nouns, s)):
            order = {x.name(): r for r, x in enumerate(wordnet.synsets(lemma, "n"))}
            assert rank == order.get(syn.name(), len(order)), (lemma, syn.name())


def test_malformed_database_lines_are_named():
    from skclip.semantic._wordnet_parse import _read_data, _read_index

    header = "  1 This software and database is being provided"
    with pytest.raises(ValueError, match=r"data.noun, line 2, is not in the WordNet 3.0"):
        _read_data([header, "00001740 03 n zz entity 0 000 | gloss"])
    with pytest.raises(ValueError, match=r"index.noun, line 1"):
        _read_index(["dog n 2 1 @ 2 1 02084071"])


def _ranks_of(nouns, s):
    rows = np.flatnonzero(nouns.synset_index == s)
    return [int(nouns.sense_ranks[r]) for r in rows]


def test_sense_ranks(nouns):
    ranks = {syn: r for name, syn, r in zip(nouns.names, nouns.synsets, nouns.sense_ranks)
             if name == "dog"}
    assert ranks["dog.n.01"] == 0 and ranks["frank.n.02"] == 4


def test_sic_list_reproduced(wordnet):
    sic = wordnet_nouns(lemmas="first", underscores=True)
    assert len(sic) == 82115
    assert sic.names[:3] == ["entity", "physical_entity", "abstraction"]
    first = [s.lemma_names()[0] for s in wordnet.all_synsets("n")][:5000]
    assert sic.names[:5000] == first


def test_underscores_become_spaces(nouns):
    assert not any("_" in n for n in nouns.names)
    assert "physical entity" in nouns.names
    tac = wordnet_nouns(underscores=True)
    assert tac.names[1] == "physical_entity" and len(tac) == len(nouns)


def test_bad_lemmas_option(wordnet):
    with pytest.raises(ValueError, match="lemmas"):
        wordnet_nouns(lemmas="some")


def test_lexnames_has_45_standard_lines():
    lines = lexnames_text().splitlines()
    assert len(lines) == 45
    assert lines[0] == "00\tadj.all\t3"
    assert lines[5] == "05\tnoun.animal\t1"
    assert lines[18] == "18\tnoun.person\t1"
    assert lines[44] == "44\tadj.ppl\t3"
    # the built-in list is what the man page says, when the man page is there
    assert lexnames_text(man_page="/nonexistent") == lexnames_text()


def _system_wordnet():
    for d in _wordnet_files.SYSTEM_WORDNET_DIRS:
        if _wordnet_files._is_wordnet_dir(d):
            return d
    skip_or_fail("needs a system WordNet folder: sudo apt-get install -y wordnet-base")


def test_readable_copy_is_built_atomically_once(tmp_path):
    source = _system_wordnet()
    errors, targets = [], []

    def build():
        try:
            targets.append(_build_readable_copy(source, tmp_path / "root"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    target = tmp_path / "root" / "corpora" / "wordnet"
    assert set(targets) == {target}
    assert (target / "lexnames").read_text() == lexnames_text()
    assert (target / "data.noun").stat().st_size == os.stat(f"{source}/data.noun").st_size
    assert [p.name for p in target.parent.iterdir()] == ["wordnet"]  # no temp dirs left


def test_explicit_system_folder_is_read_through_a_cache_copy(wordnet):
    source = _system_wordnet()
    root = Path(_wordnet_files._locate(source).path)
    assert str(root).startswith(str(_wordnet_files.get_cache_dir()))
    assert root.parts[-2:] == ("corpora", "wordnet")
    assert str(root.parents[1]) == nltk.data.path[0]  # its data root is searched first
    assert nltk.data.find("corpora/wordnet", paths=[str(root.parents[1])])
    assert wordnet.synset("cat.n.01").lexname() == "noun.animal"  # lexnames is right


def _no_wordnet_anywhere(tmp_path, monkeypatch):
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "empty")])
    monkeypatch.setattr(_wordnet_files, "SYSTEM_WORDNET_DIRS", (str(tmp_path / "none"),))
    monkeypatch.setenv("SKCLIP_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("WNSEARCHDIR", raising=False)
    monkeypatch.delenv("SKCLIP_NO_DOWNLOAD", raising=False)


def test_missing_wordnet_says_what_to_install(tmp_path, monkeypatch, capsys):
    with pytest.raises(LookupError, match="wordnet-base wordnet-sense-index"):
        load_wordnet(tmp_path)
    _no_wordnet_anywhere(tmp_path, monkeypatch)
    calls = []

    def offline(*args, **kwargs):  # what nltk does without network, with raise_on_error
        calls.append(kwargs)
        raise ValueError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(nltk, "download", offline)
    with pytest.raises(LookupError) as err:
        _wordnet_files._locate(None)
    message = str(err.value)
    assert "apt-get install -y wordnet-base wordnet-sense-index" in message
    assert "python -m nltk.downloader wordnet" in message
    assert len(calls) == 1 and calls[0]["download_dir"].startswith(str(tmp_path / "cache"))
    assert capsys.readouterr().err.count("\n") == 1  # one line said it was fetching
    monkeypatch.setenv("SKCLIP_NO_DOWNLOAD", "1")
    with pytest.raises(LookupError, match=r"nltk\.downloader wordnet"):
        _wordnet_files._locate(None)
    assert len(calls) == 1  # downloads can be switched off


def test_missing_wordnet_is_fetched_with_nltk_on_first_use(tmp_path, monkeypatch, capsys):
    source = _system_wordnet()
    _no_wordnet_anywhere(tmp_path, monkeypatch)

    def fake_download(package, download_dir, **kwargs):  # nltk's layout: corpora/wordnet.zip
        assert package == "wordnet"
        corpora = Path(download_dir) / "corpora"
        corpora.mkdir(parents=True)
        with zipfile.ZipFile(corpora / "wordnet.zip", "w") as zf:
            for name in ("data.noun", "index.noun"):
                zf.write(Path(source) / name, f"wordnet/{name}")
            zf.writestr("wordnet/lexnames", lexnames_text())
        return True

    monkeypatch.setattr(nltk, "download", fake_download)
    pointer = _wordnet_files._locate(None)
    assert "wordnet.zip" in str(pointer) and str(tmp_path / "cache") in str(pointer)
    err = capsys.readouterr().err
    assert err.startswith("skclip: WordNet 3.0 not found; fetching it once") and err.count("\n") == 1
    monkeypatch.setattr(nltk, "download", None)  # second use: found, nothing fetched
    assert "wordnet.zip" in str(_wordnet_files._locate(None))


def test_nltk_zip_data_is_found_first(wordnet, tmp_path, monkeypatch):
    source = _system_wordnet()
    corpora = tmp_path / "nltk_data" / "corpora"
    corpora.mkdir(parents=True)
    with zipfile.ZipFile(corpora / "wordnet.zip", "w") as zf:
        for name in ("data.noun", "index.noun"):
            zf.write(Path(source) / name, f"wordnet/{name}")
        zf.writestr("wordnet/lexnames", lexnames_text())
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nltk_data")])
    pointer = _wordnet_files._locate(None)
    assert "wordnet.zip" in str(pointer)
    # same noun data as the system copy: the process-wide reader is shared
    system = _wordnet_files._locate(source)
    assert _wordnet_files._content_key(pointer) == _wordnet_files._content_key(system)
    assert load_wordnet() is load_wordnet(source)
    # the direct parser reads the zip entry too (no noun.exc in it: no exceptions)
    from skclip.semantic._wordnet_parse import parse_noun_files

    parsed = parse_noun_files(pointer)
    assert parsed["version"] == "3.0" and len(parsed["synsets"]) == 82115
    assert parsed["synsets"][:2] == ["entity.n.01", "physical_entity.n.01"]


def test_parsed_vocabulary_is_cached_on_disk(wordnet, monkeypatch):
    calls = []
    fake = {
        "version": "3.0", "synsets": ["entity.n.01", "dog.n.01"],
        "lemmas": [("entity",), ("dog", "domestic_dog")], "ranks": [(0,), (0, 0)],
        "depths": np.array([0, 8], dtype=np.int32), "indptr": np.array([0, 0, 1]),
        "indices": np.array([0], dtype=np.int32),
    }

    def parse(pointer):
        assert (pointer.join("data.noun")).open()  # the located database
        calls.append(pointer)
        return fake

    monkeypatch.setattr(_wordnet, "_parse_nouns", parse)
    monkeypatch.setattr(_wordnet, "_NOUNS", {})
    monkeypatch.setattr(_wordnet, "_PARSE_VERSION", "test-fake")  # a key of its own
    first = wordnet_nouns()
    assert len(calls) == 1
    assert list((_wordnet.get_cache_dir() / "wordnet").glob("nouns-*.pkl"))
    _wordnet._NOUNS.clear()  # forget the in-memory copy: the pickle must serve it
    again = wordnet_nouns()
    assert len(calls) == 1
    assert again.names == first.names == ["entity", "dog", "domestic dog"]
    assert again.ancestors(2) == ["entity.n.01"]
    wordnet_nouns(cache=False)
    assert len(calls) == 1  # still served from memory
