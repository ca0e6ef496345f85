"""``report.html``: one self-contained page (inline CSS, SVG and base64 JPEG thumbnails)."""

import base64
import html
import io
from pathlib import Path

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2328;
background:#f6f8fa}
header{background:#24292f;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;color:#d0d7de}main{padding:8px 28px 28px}
figure.sizes,figure.plot{background:#fff;border:1px solid #d0d7de;border-radius:8px;margin:16px 0;
padding:12px}figure.sizes figcaption,figure.plot figcaption{color:#57606a;font-size:13px}
section.cluster{background:#fff;border:1px solid #d0d7de;border-radius:8px;margin:16px 0;
padding:12px 16px}section.cluster h2{margin:0 0 2px;font-size:18px}
.meta{color:#57606a;font-size:13px;margin:0 0 8px}.nouns span{display:inline-block;
background:#ddf4ff;color:#0969da;border-radius:10px;padding:1px 8px;margin:0 4px 4px 0;
font-size:13px}
.thumbs{display:flex;flex-wrap:wrap;gap:6px}.thumbs img{width:96px;height:96px;object-fit:cover;
border-radius:4px;background:#eaeef2}
.missing{width:96px;height:96px;display:flex;align-items:center;justify-content:center;
background:#eaeef2;color:#57606a;font-size:11px;border-radius:4px;text-align:center}
aside.skipped{background:#fff8c5;border:1px solid #d4a72c;border-radius:8px;padding:8px 16px}
code{font-size:12px}
"""

_PALETTE = ("#0969da", "#1a7f37", "#9a6700", "#cf222e", "#8250df", "#bf3989", "#1b7c83", "#953800")


def thumbnail_data_uri(path, size=128, quality=80):
    """A ``data:image/jpeg;base64,...`` thumbnail of an image file, or None if unreadable.

    Parameters
    ----------
    path : str or Path
        Image file.
    size : int, default=128
        Longest side of the thumbnail (smaller images are not enlarged).
    quality : int, default=80
        JPEG quality.

    Returns
    -------
    uri : str or None

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> from skclip.report import thumbnail_data_uri
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "red.png"
    >>> Image.new("RGB", (300, 200), "red").save(f)
    >>> thumbnail_data_uri(f)[:23]
    'data:image/jpeg;base64,'
    >>> thumbnail_data_uri(f.with_name("absent.png")) is None
    True
    """
    from PIL import Image

    from ..embed._images import load_rgb  # the embedder's reader: EXIF orientation applied

    try:
        im = load_rgb(path)
        im.thumbnail((size, size))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=quality)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def sizes_svg(sizes, *, ids=None, width=800, height=140):
    """An inline SVG bar plot of cluster sizes (each bar links to its section).

    Parameters
    ----------
    sizes : sequence of int
        Size of each cluster.
    ids : sequence of int, default=None
        Id of each cluster (default: 0, 1, 2...).
    width, height : int, default=800, 140
        Size of the plot in pixels. Counts and cluster numbers are printed under and
        over the bars up to 40 clusters; each bar has a tooltip.

    Returns
    -------
    svg : str

    Examples
    --------
    >>> from skclip.report import sizes_svg
    >>> svg = sizes_svg([5, 3, 0])
    >>> svg.startswith("<svg") and svg.count("<rect") == 3
    True
    """
    k = max(len(sizes), 1)
    ids = list(range(len(sizes))) if ids is None else list(ids)
    top = max(max(sizes, default=0), 1)
    bar = width / k
    labels = k <= 40
    plot_h = height - (18 if labels else 4) - 14
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="cluster sizes">']
    for i, (c, n) in enumerate(zip(ids, sizes)):
        h = plot_h * n / top
        x, y = i * bar + 0.1 * bar, 14 + plot_h - h
        parts.append(
            f'<a href="#cluster-{c}"><rect x="{x:.1f}" y="{y:.1f}" width="{0.8 * bar:.1f}" '
            f'height="{h:.1f}" fill="{_PALETTE[c % len(_PALETTE)]}">'
            f"<title>cluster {c}: {n} images</title></rect></a>")
        if labels:
            cx = i * bar + bar / 2
            parts.append(f'<text x="{cx:.1f}" y="{y - 3:.1f}" font-size="11" '
                         f'text-anchor="middle">{n}</text>')
            parts.append(f'<text x="{cx:.1f}" y="{height - 4}" font-size="11" '
                         f'text-anchor="middle" fill="#57606a">{c}</text>')
    parts.append("</svg>")
    return "".join(parts)


def k_selection_svg(scores, chosen, *, criterion="silhouette", width=800, height=140):
    """An inline SVG line plot of the ``n_clusters="auto"`` scores, the chosen K marked.

    Parameters
    ----------
    scores : sequence of (int, float)
        ``(K, score)`` of every scanned K.
    chosen : int
        The chosen K (a vertical line and its label).
    criterion : str, default="silhouette"
        Name of the score (axis label).
    width, height : int, default=800, 140
        Size of the plot in pixels; every scanned K has a tooltip.

    Returns
    -------
    svg : str

    Examples
    --------
    >>> from skclip.report import k_selection_svg
    >>> svg = k_selection_svg([(2, 0.1), (3, 0.4), (4, 0.2)], 3)
    >>> svg.startswith("<svg") and svg.count("<circle") == 3
    True
    """
    pts = sorted((int(k), float(v)) for k, v in scores)
    ks, vs = [k for k, _ in pts], [v for _, v in pts]
    k0, k1 = min(ks), max(ks)
    v0, v1 = min(vs), max(vs)
    left, right, top, bottom = 56, 12, 14, 22
    sx = lambda k: left + (width - left - right) * ((k - k0) / (k1 - k0) if k1 > k0 else 0.5)
    sy = lambda v: top + (height - top - bottom) * ((v1 - v) / (v1 - v0) if v1 > v0 else 0.5)
    line = " ".join(f"{sx(k):.1f},{sy(v):.1f}" for k, v in pts)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{criterion} by K">',
             f'<line x1="{sx(chosen):.1f}" x2="{sx(chosen):.1f}" y1="{top}" '
             f'y2="{height - bottom}" stroke="#cf222e" stroke-dasharray="4 3"/>',
             f'<text x="{sx(chosen) + (-4 if sx(chosen) > width / 2 else 4):.1f}" '
             f'y="{height - bottom - 4}" font-size="12" fill="#cf222e" '
             f'text-anchor="{"end" if sx(chosen) > width / 2 else "start"}">K = {chosen}</text>',
             f'<polyline points="{line}" fill="none" stroke="{_PALETTE[0]}" stroke-width="1.5"/>']
    for k, v in pts:
        parts.append(f'<circle cx="{sx(k):.1f}" cy="{sy(v):.1f}" r="3" fill="{_PALETTE[0]}">'
                     f"<title>K = {k}: {criterion} {v:.4f}</title></circle>")
    for v in (v0, v1):
        parts.append(f'<text x="{left - 4}" y="{sy(v) + 4:.1f}" font-size="11" '
                     f'text-anchor="end" fill="#57606a">{v:.3g}</text>')
    for k in sorted({k0, k1}):
        parts.append(f'<text x="{sx(k):.1f}" y="{height - 6}" font-size="11" '
                     f'text-anchor="middle" fill="#57606a">{k}</text>')
    parts.append("</svg>")
    return "".join(parts)


def map_svg(xy, labels, *, width=800, height=420):
    """An inline SVG scatter plot of 2-D positions coloured by cluster.

    The points of each cluster form one link to the cluster's section of the report.

    Parameters
    ----------
    xy : array-like of shape (n_points, 2)
        Positions in ``[0, 1]`` (:func:`skclip.report._summary.map_coordinates`).
    labels : array-like of shape (n_points,)
        Cluster of each point.
    width, height : int, default=800, 420
        Size of the plot in pixels.

    Returns
    -------
    svg : str

    Examples
    --------
    >>> from skclip.report import map_svg
    >>> svg = map_svg([[0.0, 0.0], [1.0, 1.0], [0.5, 0.2]], [0, 1, 1])
    >>> svg.count("<circle"), svg.count('<a href="#cluster-')
    (3, 2)
    """
    pad, r = 6, 3.5 if len(labels) <= 500 else 2.2
    groups = {}
    for (x, y), k in zip(xy, labels):
        cx = pad + (width - 2 * pad) * float(x)
        cy = pad + (height - 2 * pad) * (1 - float(y))
        groups.setdefault(int(k), []).append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r}"/>')
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="map of the images">']
    for k in sorted(groups):
        parts.append(f'<a href="#cluster-{k}"><g fill="{_PALETTE[k % len(_PALETTE)]}" '
                     f'fill-opacity="0.75"><title>cluster {k}: {len(groups[k])} points shown'
                     f'</title>{"".join(groups[k])}</g></a>')
    parts.append("</svg>")
    return "".join(parts)


def _plots(summary, projection):
    """The score curve of ``n_clusters="auto"`` and the map, as report figures."""
    out = []
    sel = summary.get("k_selection")
    if sel and sel.get("scores"):
        curve = k_selection_svg([(s["k"], s["score"]) for s in sel["scores"]], sel["chosen"],
                                criterion=sel["criterion"])
        out.append(
            f'<figure class="plot">{curve}'
            f'<figcaption>{html.escape(sel["criterion"])} of each scanned number of clusters '
            f'(greater is better); K = {sel["chosen"]} was chosen</figcaption></figure>')
    if projection is not None and len(projection["xy"]):
        shown, n = len(projection["xy"]), summary.get("n_images", len(projection["xy"]))
        what = "t-SNE" if projection["method"] == "tsne" else "first two principal components"
        sample = f"a random sample of {shown} of the {n} images" if shown < n else "every image"
        out.append(
            f'<figure class="plot">{map_svg(projection["xy"], projection["labels"])}'
            f"<figcaption>Map of {sample} in the space the clusterer used ({what}), "
            "coloured by cluster (click a point to jump to its cluster)</figcaption></figure>")
    return "".join(out)


def _section(entry, n_thumbnails, thumb):
    esc = html.escape
    k = entry["cluster"]
    conf = entry.get("mean_confidence")
    meta = f'{entry["size"]} images'
    if conf is not None:
        meta += f" · mean confidence {conf:.2f}"
    if entry.get("outliers"):
        meta += f' · <a href="#outliers">{entry["outliers"]} outliers</a>'
    nouns = "".join(
        f'<span title="specificity {n["score"]:+.3f}, cosine {n["similarity"]:.3f}">'
        f'{esc(n["noun"])}</span>' for n in entry["nouns"])
    cells = []
    for rep in entry["representatives"][:n_thumbnails]:
        uri = thumb(rep["path"])
        name = esc(rep["path"])
        if uri is None:
            cells.append(f'<div class="missing" title="{name}">{esc(Path(rep["path"]).name)}</div>')
        else:
            cells.append(f'<img src="{uri}" alt="{name}" title="{name}">')
    return (f'<section class="cluster" id="cluster-{k}"><h2>{esc(entry["title"])}</h2>'
            f'<p class="meta">{meta}</p><div class="nouns">{nouns}</div>'
            f'<div class="thumbs">{"".join(cells)}</div></section>')


def render_report(summary, *, n_thumbnails=12, thumbnail=thumbnail_data_uri, projection=None):
    """The HTML text of the report for a run summary (as written to ``clusters.json``).

    One ``<section class="cluster">`` per cluster, titled by its name or best nouns,
    with its size and a row of thumbnails of its representative images; an SVG bar
    plot of the sizes; the super-cluster tree (``summary["hierarchy"]``, collapsible);
    a notice when ``n_clusters="auto"`` found no cluster structure; the outliers and
    the skipped files, if any. Everything is inline: a Content-Security-Policy
    forbids any network access.

    Parameters
    ----------
    summary : dict
        With ``clusters`` (from :func:`skclip.report.summarize_clusters`) and optional
        run metadata (``input``, ``method``, ``model``, ``pretrained``, ``skipped``...).
    n_thumbnails : int, default=12
        Thumbnails shown per cluster.
    thumbnail : callable, default=thumbnail_data_uri
        Maps an image path to a data URI (or None when unreadable).
    projection : dict, default=None
        A 2-D map of the images (``xy`` and ``labels``, from
        :func:`skclip.report._summary.map_coordinates`), drawn at the top. The curve of
        ``summary["k_selection"]``, when present, is drawn above it.

    Returns
    -------
    html : str

    Examples
    --------
    >>> from skclip.report import render_report
    >>> page = render_report({"clusters": [{"cluster": 0, "size": 1, "title": "Cluster 0: cat",
    ...     "nouns": [], "representatives": [{"path": "absent.jpg", "similarity": 1.0}]}]})
    >>> page.count('<section class="cluster"')
    1
    """
    from ._html_sections import CSS, hierarchy_html, no_structure_html, outliers_html

    esc = html.escape
    clusters = summary["clusters"]
    sizes = [c["size"] for c in clusters]
    ids = [c["cluster"] for c in clusters]
    facts = [f"{sum(sizes)} images", f"{len(clusters)} clusters"]
    for key in ("method", "model", "pretrained", "input"):
        if summary.get(key) is not None:
            facts.append(f"{key}: {summary[key]}")
        elif key == "pretrained" and key in summary:
            facts.append("random weights (--pretrained none): clusters carry no meaning")
    skipped = summary.get("skipped") or []
    aside = ""
    if skipped:
        items = "".join(f'<li><code>{esc(s["path"])}</code>: {esc(s["error"])}</li>'
                        for s in skipped)
        aside = (f'<aside class="skipped"><h2>Skipped files ({len(skipped)})</h2>'
                 f"<ul>{items}</ul></aside>")
    body = "".join(_section(c, n_thumbnails, thumbnail) for c in clusters)
    body += outliers_html(summary.get("outliers"), thumbnail)
    tree = hierarchy_html(summary.get("hierarchy"))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>skclip: {len(clusters)} clusters</title><style>{_CSS}{CSS}</style></head><body>"
        f"<header><h1>skclip clusters</h1><p>{esc(' · '.join(facts))}</p></header><main>"
        f'{no_structure_html(summary.get("k_selection"))}{tree}{_plots(summary, projection)}'
        f'<figure class="sizes">{sizes_svg(sizes, ids=ids)}<figcaption>Cluster sizes (click a bar to '
        f"jump to its cluster)</figcaption></figure>{aside}{body}</main></body></html>\n")
