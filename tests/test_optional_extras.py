"""The optional-extra skips: one-line reasons naming the extra, failures under strict mode."""

import doctest
import sys

import pytest

import conftest as root_conftest  # the repository's top-level conftest.py (doctest hook)
from tests import conftest


@pytest.fixture
def fake_extra(monkeypatch):
    """An optional module that is never installed, declared as part of [scale]."""
    monkeypatch.setitem(conftest.EXTRAS, "skclip_missing_extra_mod", "scale")
    return "skclip_missing_extra_mod"


def _unexpected(error):
    example = doctest.Example("f()\n", "")
    test = doctest.DocTest([example], {}, "skclip.f", "f.py", 1, None)
    try:
        raise error
    except BaseException:  # noqa: BLE001 - the exc_info of a real raise, as doctest holds it
        return doctest.UnexpectedException(test, example, sys.exc_info())


def test_missing_extra_names_the_extra_in_one_line(fake_extra):
    reason = conftest.missing_extra(fake_extra)
    assert reason.startswith(f"needs {fake_extra} (pip install -e '.[scale]')")
    assert "\n" not in reason
    assert conftest.missing_extra("pytest") is None  # installed: nothing to say


@pytest.mark.parametrize("strict, outcome", [(False, pytest.skip.Exception),
                                             (True, pytest.fail.Exception)])
def test_require_skips_or_fails_under_strict(fake_extra, monkeypatch, strict, outcome):
    monkeypatch.setattr(conftest, "STRICT", strict)
    with pytest.raises(outcome, match=r"pip install -e '\.\[scale\]'"):
        conftest.require("pytest", fake_extra)
    conftest.require("pytest")  # installed: returns


def test_doctest_missing_extra_is_a_skip_reason(fake_extra):
    missing = ModuleNotFoundError(f"No module named '{fake_extra}'", name=fake_extra)
    assert root_conftest._doctest_skip_reason(_unexpected(missing)) == \
        conftest.missing_extra(fake_extra)
    # re-raised by the library as its own ImportError: the cause still counts
    try:
        try:
            raise missing
        except ImportError as exc:
            raise ImportError("skclip.scale needs Ray Data: pip install 'skclip[scale]'") from exc
    except ImportError as wrapped:
        assert root_conftest._doctest_skip_reason(_unexpected(wrapped)) is not None
    wordnet = LookupError("WordNet 3.0 was not found (and nltk's downloader could not fetch it)")
    assert root_conftest._doctest_skip_reason(_unexpected(wordnet)) == conftest.WORDNET_MISSING


def test_other_doctest_failures_stand(fake_extra, monkeypatch):
    core = ModuleNotFoundError("No module named 'numpy_typo'", name="numpy_typo")
    assert root_conftest._doctest_skip_reason(_unexpected(core)) is None
    monkeypatch.setitem(conftest.EXTRAS, "pytest", "test")  # optional, but installed here
    installed = ModuleNotFoundError("No module named 'pytest.nothing'", name="pytest.nothing")
    assert root_conftest._doctest_skip_reason(_unexpected(installed)) is None
    assert root_conftest._doctest_skip_reason(_unexpected(ValueError("bad"))) is None
    example = doctest.Example("1 + 1\n", "3\n")
    test = doctest.DocTest([example], {}, "skclip.f", "f.py", 1, None)
    assert root_conftest._doctest_skip_reason(doctest.DocTestFailure(test, example, "2\n")) is None
