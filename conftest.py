"""Doctests of skclip/ and tests/: a missing optional extra is a skip, not a failure.

A doctest cannot carry a ``requires`` mark (see tests/conftest.py). One whose every
failure is an unexpected ``ModuleNotFoundError`` for an optional module of ``EXTRAS``
(``ray``, ``faiss``...), also when re-raised as another ``ImportError``, or WordNet's
``LookupError``, is reported as skipped with the extra to install. It runs whenever the
extra is installed, and under ``SKCLIP_STRICT=1`` (CI) the failure stands.
"""

import doctest

import pytest

from tests.conftest import EXTRAS, STRICT, WORDNET_MISSING, missing_extra


def _missing_extra_reason(error):
    """The skip reason when ``error`` (or its cause) is a missing extra or WordNet, else None."""
    while error is not None:
        if isinstance(error, ModuleNotFoundError) and error.name:
            top = error.name.partition(".")[0]
            if top in EXTRAS and missing_extra(top) is not None:
                return missing_extra(top)
        elif isinstance(error, LookupError) and "WordNet" in str(error):
            return WORDNET_MISSING
        error = error.__cause__ or error.__context__
    return None


def _doctest_skip_reason(exc):
    """The skip reason when a doctest failed only for missing extras, else None."""
    failures = getattr(exc, "failures", [exc])  # MultipleDoctestFailure holds several
    if not all(isinstance(f, doctest.UnexpectedException) for f in failures):
        return None
    reasons = [_missing_extra_reason(f.exc_info[1]) for f in failures]
    if None in reasons:
        return None
    return "; ".join(sorted(set(reasons)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if STRICT or call.when != "call" or not report.failed or call.excinfo is None:
        return
    reason = _doctest_skip_reason(call.excinfo.value)
    if reason is not None:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.reportinfo()[1] or 0, f"Skipped: {reason}")
