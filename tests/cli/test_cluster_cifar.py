"""``skclip cluster`` on 200 CIFAR-10 images, and its report rendered by headless Chromium."""

import os
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from PIL import Image

from skclip.cli import main
from skclip.datasets import extract_image_archive

from ..conftest import skip_or_fail
from .test_cluster_run import read_outputs

pytestmark = pytest.mark.filterwarnings("ignore:.*uses random weights:UserWarning")

PER_CLASS = 20
CIFAR_NOUNS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
               "ship", "truck", "car", "animal", "vehicle", "boat", "plane", "pet"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def cifar_run(assets_dir, tiny_model_name, tmp_path_factory):
    """One ``skclip cluster`` run on 200 CIFAR-10 images (random tiny model, 10 clusters)."""
    zip_path = assets_dir / "cifar10" / "cifar10-test.zip"
    if not zip_path.is_file():
        pytest.skip(f"CIFAR-10 asset missing: {zip_path}")
    base = tmp_path_factory.mktemp("cifar")
    images = extract_image_archive(zip_path, base / "images", per_class=PER_CLASS)
    nouns = base / "nouns.txt"
    nouns.write_text("\n".join(CIFAR_NOUNS))
    out = base / "clusters"
    argv = ["cluster", str(base / "images"), "--n-clusters", "10", "--out", str(out),
            "--model", tiny_model_name, "--pretrained", "none", "--vocabulary", str(nouns),
            "--device", "cpu", "--batch-size", "50", "--quiet"]
    with pytest.MonkeyPatch.context() as mp:  # module fixture: set the test cache by hand
        mp.setenv("SKCLIP_CACHE", str(tmp_path_factory.getbasetemp() / "skclip-cache"))
        assert main(argv) == 0
    return images, out


def test_cifar_outputs_agree(cifar_run):
    images, out = cifar_run
    rows, summary, _ = read_outputs(out)
    assert len(images) == 10 * PER_CLASS
    assert sorted(r["path"] for r in rows) == images
    assert summary["skipped"] == [] and summary["n_clusters"] == 10
    assert summary["pretrained"] is None and summary["embedding"]["n_embedded"] == 200
    assert summary["embedding"]["n_cached"] == 0  # random weights are never cached
    assert summary["naming_nouns"] == len(CIFAR_NOUNS)  # named over the whole vocabulary
    for c in summary["clusters"]:
        if c["size"]:
            assert 1 <= len(c["nouns"]) <= 5
            assert all(n["noun"] in CIFAR_NOUNS for n in c["nouns"])
            assert c["title"].startswith(f"Cluster {c['cluster']}: {c['nouns'][0]['noun']}")


class _DomCounter(HTMLParser):
    """Counts ``<img>`` (with a decoded data URI) inside each ``<section class="cluster">``."""

    def __init__(self):
        super().__init__()
        self.sections, self._current = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and "cluster" in (attrs.get("class") or "").split():
            self._current = {"id": attrs.get("id"), "imgs": 0}
            self.sections.append(self._current)
        elif tag == "img" and self._current is not None:
            assert attrs["src"].startswith("data:image/jpeg;base64,")
            self._current["imgs"] += 1

    def handle_endtag(self, tag):
        if tag == "section":
            self._current = None


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    skip_or_fail("headless Chromium is not installed (apt-get install -y chromium)")


def _run_chromium(binary, tmp_path, *args):
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    env = {**os.environ, "HOME": str(tmp_path)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=True)


def test_report_renders_in_chromium(cifar_run, tmp_path):
    binary = _chromium()
    _, out = cifar_run
    rows, summary, _ = read_outputs(out)
    url = (out / "report.html").resolve().as_uri()

    dom = _run_chromium(binary, tmp_path, "--dump-dom", url).stdout
    counter = _DomCounter()
    counter.feed(dom)
    expected = [(f"cluster-{c['cluster']}", min(c["size"], 12)) for c in summary["clusters"]]
    assert [(s["id"], s["imgs"]) for s in counter.sections] == expected
    assert "<svg" in dom and dom.count("<rect") == 10

    shot = tmp_path / "report.png"
    _run_chromium(binary, tmp_path, f"--screenshot={shot}", "--window-size=1200,2000", url)
    with Image.open(shot) as im:
        assert im.size == (1200, 2000)
        colours = im.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50  # not blank: text, bars and thumbnails
    keep = os.environ.get("SKCLIP_SCREENSHOT_TO")  # refresh docs/_static/report_screenshot.png
    if keep:
        shutil.copyfile(shot, keep)
