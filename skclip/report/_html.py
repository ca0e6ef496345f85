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
figure.sizes{background:#fff;border:1px solid #d0d7de;border-radius:8px;margin:16px 0;padding:12px}
figure.sizes figcaption{color:#57606a;font-size:13px}
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


def sizes_svg(sizes, *, width=800, height=140):
    """An inline SVG bar plot of cluster sizes (each bar links to its section).

    Parameters
    ----------
    sizes : sequence of int
        Size of each cluster.
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
    top = max(max(sizes, default=0), 1)
    bar = width / k
    labels = k <= 40
    plot_h = height - (18 if labels else 4) - 14
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="cluster sizes">']
    for i, n in enumerate(sizes):
        h = plot_h * n / top
        x, y = i * bar + 0.1 * bar, 14 + plot_h - h
        parts.append(
            f'<a href="#cluster-{i}"><rect x="{x:.1f}" y="{y:.1f}" width="{0.8 * bar:.1f}" '
            f'height="{h:.1f}" fill="{_PALETTE[i % len(_PALETTE)]}">'
            f"<title>cluster {i}: {n} images</title></rect></a>")
        if labels:
            cx = i * bar + bar / 2
            parts.append(f'<text x="{cx:.1f}" y="{y - 3:.1f}" font-size="11" '
                         f'text-anchor="middle">{n}</text>')
            parts.append(f'<text x="{cx:.1f}" y="{height - 4}" font-size="11" '
                         f'text-anchor="middle" fill="#57606a">{i}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _section(entry, n_thumbnails, thumb):
    esc = html.escape
    k = entry["cluster"]
    conf = entry.get("mean_confidence")
    meta = f'{entry["size"]} images'
    if conf is not None:
        meta += f" · mean confidence {conf:.2f}"
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


def render_report(summary, *, n_thumbnails=12, thumbnail=thumbnail_data_uri):
    """The HTML text of the report for a run summary (as written to ``clusters.json``).

    One ``<section class="cluster">`` per cluster, titled by its best nouns, with its
    size and a row of thumbnails of its representative images; an SVG bar plot of the
    sizes; the skipped files, if any. Everything is inline: a Content-Security-Policy
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
    esc = html.escape
    clusters = summary["clusters"]
    sizes = [c["size"] for c in clusters]
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
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>skclip: {len(clusters)} clusters</title><style>{_CSS}</style></head><body>"
        f"<header><h1>skclip clusters</h1><p>{esc(' · '.join(facts))}</p></header><main>"
        f'<figure class="sizes">{sizes_svg(sizes)}<figcaption>Cluster sizes (click a bar to '
        f"jump to its cluster)</figcaption></figure>{aside}{body}</main></body></html>\n")
