"""Caption corpora: a list, a text file, the Flickr8k/30k token file, COCO JSON, or the
corpus shipped with skclip (``"coco"``)."""

import gzip
import json
import os
import re
from pathlib import Path

_FLICKR_LINE = re.compile(r"^([^\t#]+)#(\d+)\t(.*)$")
_SPACES = re.compile(r"\s+")
_FORMATS = ("auto", "lines", "flickr", "coco")

#: Caption corpora shipped with skclip, by name (files under ``skclip/semantic/data``).
#: ``"coco"``: one caption per image of the COCO 2017 validation annotations, 5,000
#: sentences (COCO Consortium, CC BY 4.0; 72 kB gzip'd).
CAPTION_CORPORA = {"coco": "coco_captions_val2017.txt.gz"}


def packaged_captions(name="coco"):
    """The caption corpus ``name`` shipped with skclip, as a list of sentences.

    Parameters
    ----------
    name : {"coco"}, default="coco"
        ``"coco"``: the captions of the COCO 2017 validation annotations, one per image
        (of its five, the one with the fewest words not already taken, ignoring case
        and a final full stop): 5,000 sentences, 8.5 words on average. One per image
        keeps the corpus as diverse as the images while its encoding adds about a
        twentieth of the noun ranking to a cold first run (all 24,767 distinct
        captions, longer on average, would add about 40%). COCO annotations (c) COCO Consortium, licensed CC BY 4.0
        (https://cocodataset.org; Chen et al., "Microsoft COCO Captions", 2015).

    Returns
    -------
    captions : list of str

    Examples
    --------
    >>> from skclip.semantic import packaged_captions
    >>> caps = packaged_captions("coco")
    >>> len(caps), caps[0]
    (5000, 'A woman standing in a kitchen by a window')
    """
    if name not in CAPTION_CORPORA:
        raise ValueError(f"unknown caption corpus {name!r}; shipped: {sorted(CAPTION_CORPORA)}")
    from importlib.resources import files

    raw = files("skclip.semantic").joinpath("data", CAPTION_CORPORA[name]).read_bytes()
    return gzip.decompress(raw).decode("utf-8").splitlines()


def _clean(texts, dedupe):
    """Collapse whitespace, drop empty strings and (optionally) repeats, keep order."""
    out, seen = [], set()
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"captions must be strings, got {type(text).__name__}: {text!r}")
        text = _SPACES.sub(" ", text).strip()
        if not text or (dedupe and text in seen):
            continue
        seen.add(text)
        out.append(text)
    return out


def _read_split(images):
    if images is None:
        return None
    if isinstance(images, (str, os.PathLike)):
        lines = Path(images).read_text(encoding="utf-8").splitlines()
        return {line.strip() for line in lines if line.strip()}
    return {str(name) for name in images}


def _sniff(path):
    if path.suffix.lower() == ".json":
        return "coco"
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                return "flickr" if _FLICKR_LINE.match(line.rstrip("\n")) else "lines"
    return "lines"


def _read_flickr(path, keep):
    texts = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            match = _FLICKR_LINE.match(line)
            if match is None:
                raise ValueError(
                    f"{path}:{lineno}: not a Flickr token line ('<image>#<k><TAB><caption>'): "
                    f"{line[:80]!r}"
                )
            if keep is None or match.group(1) in keep:
                texts.append(match.group(3))
    return texts


def _read_coco(path, keep):
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if isinstance(data, list):  # a plain JSON list of sentences
        return list(data)
    if not isinstance(data, dict) or "annotations" not in data:
        raise ValueError(f"{path}: expected COCO caption JSON with an 'annotations' list")
    if keep is not None:
        names = {img["id"]: img.get("file_name") for img in data.get("images", [])}
        keep_ids = {i for i, name in names.items() if name in keep or str(i) in keep}
    texts = []
    for ann in data["annotations"]:
        if keep is None or ann.get("image_id") in keep_ids:
            texts.append(ann["caption"])
    return texts


def read_captions(source, *, format="auto", images=None, dedupe=True):
    """Read a caption corpus into a clean list of sentences.

    Parameters
    ----------
    source : list of str or str or path-like
        Sentences, the name of a shipped corpus (``"coco"``, see
        :func:`packaged_captions`; it takes precedence over a file of that name), or a
        file: plain text (one caption per line), the Flickr8k/Flickr30k
        token file (``<image>#<k><TAB><caption>``) or COCO caption JSON (``annotations``
        with a ``caption`` each; a JSON list of strings also works).
    format : {"auto", "lines", "flickr", "coco"}, default="auto"
        File format; ``"auto"`` uses ``.json`` -> COCO, else sniffs the first line.
    images : iterable of str or path-like, default=None
        Keep only the captions of these images (file names, e.g. a Flickr split file
        such as ``Flickr_8k.trainImages.txt``; COCO also matches image ids). Files only.
    dedupe : bool, default=True
        Drop repeated sentences (after whitespace normalisation), keeping the first.

    Returns
    -------
    captions : list of str
        Stripped, whitespace-collapsed, non-empty sentences in corpus order.

    Examples
    --------
    >>> from skclip.semantic import read_captions
    >>> read_captions(["A dog runs .", "  a  cat ", "A dog runs ."])
    ['A dog runs .', 'a cat']
    """
    if format not in _FORMATS:
        raise ValueError(f"format must be one of {_FORMATS}, got {format!r}")
    if isinstance(source, str) and source in CAPTION_CORPORA:
        if images is not None:
            raise ValueError("images= does not apply to a shipped caption corpus")
        return _clean(packaged_captions(source), dedupe)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"caption file not found: {str(path)!r}")
        fmt = _sniff(path) if format == "auto" else format
        keep = _read_split(images)
        if fmt == "coco":
            texts = _read_coco(path, keep)
        elif fmt == "flickr":
            texts = _read_flickr(path, keep)
        else:
            if keep is not None:
                raise ValueError("images= needs a Flickr token file or COCO JSON, not plain lines")
            texts = path.read_text(encoding="utf-8").splitlines()
    else:
        if images is not None:
            raise ValueError("images= only applies when captions are read from a file")
        if not hasattr(source, "__iter__"):
            raise TypeError(
                f"captions must be a list of str or a path, got {type(source).__name__}"
            )
        texts = list(source)
    return _clean(texts, dedupe)
