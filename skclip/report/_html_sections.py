"""Report sections added after the first run: the super-cluster tree, the outliers, the
"no cluster structure" notice. Plain HTML (``<details>`` folds the tree: no script)."""

import html
from pathlib import Path

CSS = """
details.tree{background:#fff;border:1px solid #d0d7de;border-radius:8px;margin:16px 0;
padding:8px 16px}details.tree>summary{font-weight:600;cursor:pointer}
.tree ul{list-style:none;margin:0;padding-left:18px;border-left:1px dashed #d0d7de}
.tree li{margin:3px 0}.tree details>summary{cursor:pointer}
.tree .n{color:#57606a;font-size:12px}.tree a{color:#0969da;text-decoration:none}
.tree .sup{font-weight:600}
aside.nostructure{background:#fff8c5;border:1px solid #d4a72c;border-radius:8px;
padding:8px 16px;margin:16px 0}
section.outliers{background:#fff;border:1px solid #d0d7de;border-radius:8px;margin:16px 0;
padding:12px 16px}section.outliers h2{margin:0 0 2px;font-size:18px}
"""

__all__ = ["CSS", "hierarchy_html", "no_structure_html", "outliers_html"]


def _node(node, depth):
    esc = html.escape
    if not node["children"]:
        k = node["id"]
        return (f'<li><a href="#cluster-{k}">{esc(str(node["name"]))}</a> '
                f'<span class="n">cluster {k} · {node["size"]}</span></li>')
    inner = "".join(_node(c, depth + 1) for c in node["children"])
    name = esc(str(node["name"] or node["id"]))
    return (f'<li><details{" open" if depth < 4 else ""}><summary><span class="sup">{name}'
            f'</span> <span class="n">{len(_leaves(node))} clusters · {node["size"]} images'
            f"</span></summary><ul>{inner}</ul></details></li>")


def _leaves(node):
    return [node] if not node["children"] else [x for c in node["children"] for x in _leaves(c)]


def hierarchy_html(root):
    """The super-cluster tree as nested, collapsible lists (three levels open).

    Examples
    --------
    >>> from skclip.report._html_sections import hierarchy_html
    >>> leaf = lambda k, n: {"id": k, "children": [], "size": n, "name": f"c{k}"}
    >>> page = hierarchy_html({"id": "s1", "children": [leaf(0, 2), leaf(1, 3)], "size": 5,
    ...                        "name": "dog"})
    >>> page.count("<details"), page.count('href="#cluster-')
    (2, 2)
    """
    if root is None:
        return ""
    return ('<details class="tree" id="hierarchy" open><summary>Super-clusters (clusters grouped by the '
            'similarity of their centres; click a name to fold or unfold it)</summary>'
            f"<ul>{_node(root, 1)}</ul></details>")


def no_structure_html(k_selection):
    """A notice when ``n_clusters="auto"`` found no cluster structure ("" otherwise)."""
    if not k_selection or k_selection.get("structure", True):
        return ""
    null = k_selection["null_reference"]
    return ('<aside class="nostructure"><h2>No cluster structure found</h2><p>The best '
            f'{html.escape(k_selection["criterion"])} ({null["score"]:.4g} at K = {null["k"]}) '
            "is no better than on one Gaussian blob shaped like these images "
            f'({null["null_score"]:.4g}): the images form no distinct groups at any scanned '
            f'number of clusters, so the smallest one, K = {k_selection["chosen"]}, is shown. '
            "Give --n-clusters K to force a partition.</p></aside>")


def outliers_html(outliers, thumbnail, *, limit=48):
    """The images that fit no cluster (the farthest first), with thumbnails."""
    if not outliers:
        return ""
    esc = html.escape
    cells = []
    for o in outliers[:limit]:
        uri = thumbnail(o["path"])
        tip = esc(f'{o["path"]} (cluster {o["cluster"]}, distance {o["distance"]:.3f})')
        if uri is None:
            cells.append(f'<div class="missing" title="{tip}">{esc(Path(o["path"]).name)}</div>')
        else:
            cells.append(f'<img src="{uri}" alt="{tip}" title="{tip}">')
    more = f" (the {limit} farthest shown)" if len(outliers) > limit else ""
    return (f'<section class="outliers" id="outliers"><h2>Outliers ({len(outliers)})</h2>'
            '<p class="meta">Images farther from their cluster\'s centre than the cluster\'s '
            f"own far tail (see outlier_rule in clusters.json){more}</p>"
            f'<div class="thumbs">{"".join(cells)}</div></section>')
