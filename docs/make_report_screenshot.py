"""Remake ``docs/_static/report_screenshot.png`` (the report shown in README and user guide).

200 CIFAR-10 test images (20 per class, from the offline assets folder), ``skclip
cluster`` with ViT-B-32 random weights (offline: the page's layout, not its meaning)
and ``--n-clusters auto``, then a headless Chromium screenshot of the top of
``report.html``:

    SKCLIP_ASSETS=/path/to/assets python docs/make_report_screenshot.py
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOUNS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
         "truck", "car", "animal", "vehicle", "boat", "plane", "pet"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync",
         "--hide-scrollbars"]


def main():
    assets = Path(os.environ.get("SKCLIP_ASSETS", "assets"))
    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                     "google-chrome"))), None)
    if chromium is None or not (assets / "cifar10").is_dir():
        sys.exit("needs headless Chromium and SKCLIP_ASSETS with cifar10/cifar10-test.zip")
    from skclip.datasets import extract_image_archive

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        extract_image_archive(assets / "cifar10" / "cifar10-test.zip", tmp / "cifar10-test",
                              per_class=20)
        (tmp / "nouns.txt").write_text("\n".join(NOUNS) + "\n")
        from skclip.cli import main as skclip

        os.chdir(tmp)  # the report's header shows the input as given: a short name
        status = skclip(["cluster", "cifar10-test", "--n-clusters", "auto",
                         "--k-range", "2:12", "--pretrained", "none", "--vocabulary",
                         str(tmp / "nouns.txt"), "--device", "cpu", "--out",
                         str(tmp / "out"), "--quiet"])
        if status:
            sys.exit(status)
        target = HERE / "_static" / "report_screenshot.png"
        subprocess.run([chromium, *FLAGS, f"--user-data-dir={tmp / 'profile'}",
                        f"--screenshot={target}", "--window-size=1000,1400",
                        (tmp / "out" / "report.html").as_uri()],
                       check=True, capture_output=True, env={**os.environ, "HOME": str(tmp)})
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
