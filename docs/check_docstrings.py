"""List public skclip objects whose docstring lacks a numpydoc section.

Every public class and function needs Parameters, Returns (functions) or Attributes
(classes with fitted or stored state), and an Examples section. "Public" means listed
in the ``__all__`` of ``skclip`` and its subpackages, plus ``skclip.cli.main``, and,
for classes, their own public methods. Module constants are skipped.

    python docs/check_docstrings.py          # prints the gaps; exit 1 when any

numpydoc's parser warnings (unknown sections, malformed entries) are reported too.
"""

import dataclasses
import importlib
import inspect
import sys
import warnings

from numpydoc.docscrape import ClassDoc, FunctionDoc

SUBPACKAGES = ["cluster", "datasets", "embed", "kmeans", "metrics", "neighbors", "ot", "report",
               "semantic"]


def public_objects():
    """(public name, object) for every public class and function, without repeats."""
    import skclip

    seen, out = set(), []
    names = [("skclip", n) for n in skclip._LAZY]
    for sub in SUBPACKAGES:
        module = importlib.import_module(f"skclip.{sub}")
        names += [(module.__name__, n) for n in module.__all__]
    names.append(("skclip.cli", "main"))
    for modname, name in names:
        obj = getattr(importlib.import_module(modname), name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)) or id(obj) in seen:
            continue
        seen.add(id(obj))
        out.append((f"{modname}.{name}", obj))
    return out


def _has(doc, section):
    return bool(doc[section])


def gaps(name, obj):
    """Problems of one object's docstring (and of its own public methods)."""
    problems = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        doc = ClassDoc(obj, config={"show_class_members": False}) if inspect.isclass(obj) \
            else FunctionDoc(obj)
    problems += [f"numpydoc: {w.message}" for w in caught]
    if not inspect.getdoc(obj):
        return ["no docstring"]
    if inspect.isclass(obj):
        # records (dataclasses, named tuples) document their fields as Attributes
        record = dataclasses.is_dataclass(obj) or issubclass(obj, tuple)
        params = inspect.signature(obj).parameters
        if not record and [p for p in params if p not in ("self", "args", "kwargs")] \
                and not _has(doc, "Parameters"):
            problems.append("no Parameters section")
        if not (_has(doc, "Attributes") or (_has(doc, "Parameters") and not record)):
            problems.append("no Attributes section")
    else:
        params = [p for p in inspect.signature(obj).parameters]
        if params and not _has(doc, "Parameters"):
            problems.append("no Parameters section")
        if not (_has(doc, "Returns") or _has(doc, "Yields")) and \
                inspect.signature(obj).return_annotation is not None:
            src = inspect.getsource(obj)
            if "return " in src.replace("return None", ""):
                problems.append("no Returns section")
    if not _has(doc, "Examples"):
        problems.append("no Examples section")
    if inspect.isclass(obj):
        for meth_name, meth in vars(obj).items():
            if meth_name.startswith("_") or not inspect.isfunction(meth):
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                mdoc = FunctionDoc(meth)
            problems += [f"{meth_name}: numpydoc: {w.message}" for w in caught]
            if not inspect.getdoc(meth):
                problems.append(f"{meth_name}: no docstring")
                continue
            args = [p for p in inspect.signature(meth).parameters if p != "self"]
            if args and not _has(mdoc, "Parameters"):
                problems.append(f"{meth_name}: no Parameters section")
    return problems


def main():
    bad = 0
    for name, obj in public_objects():
        problems = gaps(name, obj)
        if problems:
            bad += 1
            where = f"{inspect.getsourcefile(obj)}:{inspect.getsourcelines(obj)[1]}"
            print(f"{name} ({where})")
            for problem in problems:
                print(f"    {problem}")
    print(f"{bad} public object(s) with gaps")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
