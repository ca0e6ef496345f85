"""Clustering quality (ACC / NMI / ARI) of every method on features files: ``skclip benchmark``.

    python benchmarks/quality.py --features cifar10.npz stl10.npz \
        [--methods kmeans,tac,cae,mca] [--seeds 5] [--out-json q.json] [--out-md q.md]

A thin wrapper of ``skclip benchmark DATASET --features FILE.npz`` (one implementation:
:mod:`skclip.cli._benchmark` and :mod:`skclip.report`'s benchmark functions), run once
per file, with the runs of every file gathered into one results.json / results.md. A
file named after a benchmark dataset (``cifar10.npz``, or ``--names cifar10``) gets the
published numbers beside skclip's; any other name is an unnamed labelled dataset.

Each features file (``skclip embed`` on a ``class/image`` tree writes one) needs labels
``y``; the text methods (tac, cae, mca) use its ``text_embeddings`` when it has some, else
the WordNet vocabulary encoded by the model the file names.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import set_threads, write_json  # noqa: E402

from skclip.cli import main as skclip_main  # noqa: E402
from skclip.datasets import BENCHMARK_DATASETS  # noqa: E402
from skclip.report import BENCHMARK_METHODS, benchmark_markdown  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--features", nargs="+", required=True, metavar="FILE",
                   help="one or more features files (.npz); each is a dataset")
    p.add_argument("--names", default=None,
                   help="comma-separated dataset names (default: file stems)")
    p.add_argument("--methods", default=",".join(BENCHMARK_METHODS),
                   help=f"comma-separated subset of {','.join(BENCHMARK_METHODS)}")
    p.add_argument("--seeds", default="5", help="number of seeds (0..N-1) or a list 0,1,2")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out-json", default=None, metavar="PATH")
    p.add_argument("--out-md", default=None, metavar="PATH")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    args.names = (args.names.split(",") if args.names
                  else [Path(f).name.removesuffix(".npz") for f in args.features])
    if len(args.names) != len(args.features) or len(set(args.names)) != len(args.names):
        p.error("--names must give one distinct name per features file")
    return args


def run_file(name, path, args, out):
    """``skclip benchmark`` on one features file; its (protocols, runs, exit status)."""
    dataset = name if name in BENCHMARK_DATASETS else "folder"
    argv = ["benchmark", dataset, "--features", str(path), "--out", str(out), "--methods",
            args.methods, "--seeds", args.seeds, "--device", args.device, "--overwrite"]
    rc = skclip_main(argv + (["--quiet"] if args.quiet else []))
    results = Path(out) / "results.json"
    if not results.is_file():  # the command failed before fitting (bad file, bad arguments)
        return [], [], rc or 1
    payload = json.loads(results.read_text())
    if dataset == "folder":  # an unnamed dataset keeps the name it was given
        for entry in payload["protocols"]:
            entry.update(dataset=name, title=name)
        for entry in payload["runs"]:
            entry["dataset"] = name
    return payload["protocols"], payload["runs"], rc


def main(argv=None):
    args = parse_args(argv)
    set_threads(args.threads)
    protocols, runs, status = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, path) in enumerate(zip(args.names, args.features)):
            p, r, rc = run_file(name, path, args, Path(tmp) / str(i))
            protocols, runs, status = protocols + p, runs + r, max(status, rc)
    write_json(args.out_json, {"benchmark": "quality", "protocols": protocols, "runs": runs})
    text = benchmark_markdown(protocols, runs)
    if args.out_md:
        Path(args.out_md).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out_md).write_text(text)
    print(text)
    return status


if __name__ == "__main__":
    sys.exit(main())
