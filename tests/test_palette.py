"""The report's cluster colours: 20 distinguishable ones (Delta E 1976 >= 25 pairwise)."""

import numpy as np

from skclip.report._palette import PALETTE, cluster_colour


def _lab(hex_colours):
    rgb = np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in hex_colours]) / 255.0
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = lin @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                          [0.0193, 0.1192, 0.9505]]).T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]),
                     200 * (f[:, 1] - f[:, 2])], axis=1)


def test_twenty_clusters_have_distinct_colours():
    colours = [cluster_colour(k) for k in range(20)]
    assert len(set(colours)) == 20
    lab = _lab(colours)
    dist = np.linalg.norm(lab[:, None] - lab[None], axis=2) + np.eye(20) * 1e3
    assert dist.min() >= 25  # clearly different side by side, not only unequal strings
    assert all(30 <= L <= 75 for L in lab[:, 0])  # readable on the white page


def test_report_bars_use_the_palette():
    from skclip.report import sizes_svg

    svg = sizes_svg(np.arange(1, 21))
    assert all(c in svg for c in PALETTE)
