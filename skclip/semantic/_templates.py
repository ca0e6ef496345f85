"""Prompt templates for noun vocabularies (see the user guide, "Vocabulary")."""

#: Named template sets. ``"photo"``: MCA's single template. ``"sic"``: the same as SIC's
#: code writes it (no full stop). ``"tac7"``: TAC's seven-template ensemble, as TAC's
#: code writes it (CAE's default for nouns). ``"none"``: the raw string, as used for
#: captions.
TEMPLATES = {
    "photo": ("a photo of a {}.",),
    "sic": ("a photo of a {}",),
    "tac7": (
        "itap of a {}.",
        "a bad photo of the {}.",
        "a origami {}.",
        "a photo of the large {}.",
        "a {} in a video game.",
        "art of the {}.",
        "a photo of the small {}.",
    ),
    "none": ("{}",),
}

#: The named template set of each method's default semantic space (CAE and TAC: TAC's
#: seven templates; MCA: ``"a photo of a {}."``), for the estimators and ``skclip vocab``.
METHOD_TEMPLATES = {"cae": "tac7", "tac": "tac7", "mca": "photo"}

#: The one prompt per noun of the two-stage embedding's ranking stage (and of the report's
#: cluster names): a shared prefix (encoded once per batch) and no full stop, so a noun
#: costs its own tokens plus the end token. SIC's prompt for its whole vocabulary; one
#: token fewer than ``"a photo of a {}."`` (4.85 -> 3.85 tokens encoded per WordNet noun:
#: the ranking stage, most of a cold run, is ~20% shorter).
RANKING_TEMPLATE = "a photo of a {}"


def resolve_templates(templates):
    """Return the template tuple that ``templates`` names or lists.

    Parameters
    ----------
    templates : str or list of str
        A key of :data:`TEMPLATES`, a single template containing ``"{}"``, or a list
        of such templates (their embeddings are averaged).

    Returns
    -------
    templates : tuple of str

    Examples
    --------
    >>> from skclip.semantic._templates import resolve_templates
    >>> resolve_templates("photo")
    ('a photo of a {}.',)
    >>> resolve_templates(["a sketch of a {}.", "{}"])
    ('a sketch of a {}.', '{}')
    """
    if isinstance(templates, str):
        if templates in TEMPLATES:
            return TEMPLATES[templates]
        templates = [templates]
    templates = tuple(templates)
    if not templates:
        raise ValueError("templates must name a template set or list at least one template")
    for t in templates:
        if not isinstance(t, str) or t.count("{}") != 1:
            raise ValueError(
                f"each template must be a string with exactly one '{{}}' placeholder, got {t!r}; "
                f"named sets: {sorted(TEMPLATES)}"
            )
    return templates
