"""Building a vocabulary cache: encode a whole vocabulary once, into the text cache and a file."""

from ._sources import encoder_factory, noun_rows
from ._templates import resolve_templates
from ._text_cache import cache_key, embed_texts
from ._vocab_file import write_vocabulary_file


def build_vocabulary_cache(embedder=None, vocabulary="wordnet", templates="tac7", *, out=None,
                           cache=True, cache_dir=None, wordnet_path=None, verbose=1):
    """Encode a whole noun vocabulary with a template ensemble; cache it and/or save it.

    What ``skclip vocab build`` runs. The result goes to the text cache (so later fits
    with the same model, weights, templates and vocabulary use it) and, with ``out``,
    to a file that :class:`SemanticSpaceBuilder` reads with ``vocabulary_cache=`` on
    another machine (encode once on a GPU, cluster on CPUs).

    Parameters
    ----------
    embedder : CLIPEmbedder or object with ``encode_text``, default=None
        The text encoder; it must name real weights (``model`` and ``pretrained``
        attributes; random weights cannot be reused). None means ``CLIPEmbedder()``.
    vocabulary : {"wordnet", "wordnet-tac", "wordnet-sic"} or list of str, default="wordnet"
        As in :class:`SemanticSpaceBuilder`.
    templates : str or list of str, default="tac7"
        As in :class:`SemanticSpaceBuilder` (``"tac7"`` for CAE and TAC, ``"photo"``
        for MCA).
    out : str or path-like, default=None
        Also write the embeddings to this ``.npz`` file.
    cache : bool, default=True
        Write the text cache (``get_cache_dir(cache_dir)/text``).
    cache_dir : str or path-like, default=None
    wordnet_path : str or path-like, default=None
    verbose : int, default=1
        Progress bar when positive.

    Returns
    -------
    path : pathlib.Path or None
        The file written (None without ``out``).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from skclip.semantic import SemanticSpaceBuilder, build_vocabulary_cache
    >>> class Encoder:  # stands in for a CLIPEmbedder with real weights
    ...     model, pretrained = "toy-model", "toy-weights"
    ...     def encode_text(self, texts):
    ...         return np.array([[len(t), t.count("a"), 1.0] for t in texts], np.float32)
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> nouns = ["cat", "dog", "zebra", "aardvark"]
    >>> path = build_vocabulary_cache(Encoder(), nouns, "tac7", out=folder / "vocab.npz",
    ...                               cache=False, verbose=0)
    >>> space = SemanticSpaceBuilder(embedder=Encoder(), vocabulary=nouns, templates="tac7",
    ...                              vocabulary_cache=path, topk_nouns=1, cache=False)
    >>> space.fit(np.ones((4, 3), np.float32)).nouns_
    ['aardvark']
    """
    encoder = encoder_factory(embedder)()
    templates = resolve_templates(templates)
    unique = list(dict.fromkeys(noun_rows(vocabulary, wordnet_path=wordnet_path).names))
    if cache_key(encoder, unique, templates) is None:
        raise ValueError(
            "the encoder names no reusable weights (pretrained=None draws random ones): "
            "vocabulary embeddings can only be cached for a pretrained tag or checkpoint."
        )
    E = embed_texts(encoder, unique, templates, cache=cache, cache_dir=cache_dir,
                    verbose=verbose,
                    desc=f"encoding {len(unique):,} nouns x {len(templates)} templates")
    if out is None:
        return None
    label = vocabulary if isinstance(vocabulary, str) else "list"
    return write_vocabulary_file(out, encoder, unique, templates, E, label)
