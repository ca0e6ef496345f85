"""The colours of the clusters in ``report.html``: 20 that tell apart on a white page."""

__all__ = ["PALETTE", "cluster_colour"]

# The report's first 8 colours, then 12 chosen greedily: each the sRGB colour (a 16-step
# grid, CIE L* between 30 and 72 so it reads on white) farthest in CIE Lab (Delta E 1976)
# from those before it. Any two of the 20 differ by Delta E >= 27.
PALETTE = (
    "#0969da", "#1a7f37", "#9a6700", "#cf222e", "#8250df", "#bf3989", "#1b7c83", "#953800",
    "#00cc00", "#0000ff", "#cc9999", "#ff00ff", "#99aa00", "#554466", "#33bbff", "#cc99ee",
    "#ff7700", "#555533", "#aaaa66", "#ff77ff",
)


def cluster_colour(k):
    """The colour of cluster ``k``: distinct for the first 20 clusters, then repeating.

    Parameters
    ----------
    k : int
        Cluster index.

    Returns
    -------
    colour : str
        ``"#rrggbb"``.

    Examples
    --------
    >>> from skclip.report._palette import cluster_colour
    >>> cluster_colour(0), cluster_colour(8) != cluster_colour(0), cluster_colour(20)
    ('#0969da', True, '#0969da')
    """
    return PALETTE[int(k) % len(PALETTE)]
