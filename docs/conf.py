"""Sphinx configuration for the skclip documentation."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "docs"))  # _sorting.py
os.environ.setdefault("MPLBACKEND", "Agg")

import skclip  # noqa: E402

project = "skclip"
author = "skclip developers"
copyright = "2026, skclip developers"
release = skclip.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

autosummary_generate = True
# Class pages (docs/_templates/autosummary/class.rst) document every public method,
# inherited ones too (users call fit_predict, get_params...), except scikit-learn's
# output/metadata-routing plumbing, whose docstrings point to labels of
# scikit-learn's own documentation (no intersphinx offline). The module sections of
# api.rst show only the module docstrings.
SKLEARN_PLUMBING = ["set_output", "get_metadata_routing"]
autosummary_context = {
    "skipped_methods": ["__init__", *SKLEARN_PLUMBING],
    "excluded_members": ", ".join(SKLEARN_PLUMBING),
}
autodoc_typehints = "none"  # types are in the numpydoc Parameters sections
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# Nothing is fetched while building: intersphinx would need the network.
intersphinx_mapping = {}

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/(plot|example)_",
    # The examples are executed by .ci/run directly (python examples/*.py); the
    # docs build renders them without running them a second time.
    "plot_gallery": "False",
    "download_all_examples": False,
    "write_computation_times": False,  # nothing is executed, so no sg_execution_times.rst
    "within_subsection_order": "_sorting.ExampleOrder",
    "ignore_pattern": r"(__init__|_common)\.py",
}


def _write_cli_help():
    """``skclip [COMMAND] --help`` as text files for user_guide/command_line.rst.

    Generated at every build from the real parser, so the page cannot go stale.
    """
    import contextlib
    import io

    from skclip.cli import main

    target = ROOT / "docs" / "_cli_help"
    target.mkdir(exist_ok=True)
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "88"  # argparse wraps to the terminal width
    try:
        for command in ("", "cluster", "embed", "vocab build"):
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                main([*command.split(), "--help"])
            name = f"skclip-{command.replace(' ', '-')}.txt" if command else "skclip.txt"
            (target / name).write_text(buffer.getvalue())
    finally:
        if columns is None:
            os.environ.pop("COLUMNS")
        else:
            os.environ["COLUMNS"] = columns


_write_cli_help()

html_theme = "alabaster"
html_static_path = ["_static"]
html_title = f"skclip {release}"


# --- re-exported public names -----------------------------------------------------
# Public objects live in private modules (skclip/ot/_sinkhorn.py) and are documented
# under their public path (skclip.ot.sinkhorn). Two consequences are handled here.


def _public_data_docstring(app, what, name, obj, options, lines):
    """Module constants: use their ``#:`` comment, never the docstring of their type.

    autodoc looks for ``#:`` comments in the public module (``skclip.semantic``),
    but they are written next to the definition in the private module.
    """
    if what != "data":
        return
    import importlib
    import inspect
    import pkgutil

    from sphinx.pycode import ModuleAnalyzer

    own = (inspect.getdoc(type(obj)) or "").strip()
    if lines and ("\n".join(lines).strip() != own or type(obj).__module__ != "builtins"):
        return  # a real docstring (or the class docstring of one of our types)
    modname, _, attr = name.rpartition(".")
    package = importlib.import_module(modname)
    for info in pkgutil.iter_modules(getattr(package, "__path__", []), modname + "."):
        module = importlib.import_module(info.name)
        if getattr(module, attr, None) is not obj:
            continue
        comment = ModuleAnalyzer.for_module(info.name).find_attr_docs().get(("", attr))
        lines[:] = list(comment or [])
        return
    lines[:] = []


def _resolve_alias(app, env, node, contnode):
    """Let ``skclip.cluster.CAEClustering`` links find ``skclip.CAEClustering``.

    The estimators are documented once, under the top-level package; docstrings
    also name them by their subpackage.
    """
    if node.get("refdomain") != "py":
        return None
    import skclip

    parts = node.get("reftarget", "").split(".")
    # skclip.<subpackage>[._module].<Estimator>[.method] -> skclip.<Estimator>[.method]
    hits = [i for i, part in enumerate(parts) if i >= 2 and part in skclip._LAZY]
    if parts[0] != "skclip" or not hits:
        return None
    alias = ".".join(["skclip", *parts[hits[0]:]])
    domain = env.get_domain("py")
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], alias,
                               node, contnode)


def setup(app):
    # before numpydoc (priority 500) turns the type's docstring into sections
    app.connect("autodoc-process-docstring", _public_data_docstring, priority=100)
    app.connect("missing-reference", _resolve_alias)
