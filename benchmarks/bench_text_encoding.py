"""Text encoding speed: open_clip's ``encode_text`` vs skclip's truncated-context path.

Encodes WordNet-style prompts ("a photo of a {noun}.") with the ViT-B-32 text tower
(random weights: the cost is the same as with pretrained ones) on the CPU, checks that
both give the same embeddings, prints a table and writes JSON.

    python benchmarks/bench_text_encoding.py            # 2,000 prompts
    python benchmarks/bench_text_encoding.py --quick    # 200 prompts, for CI

Both methods run on the same prompts in alternating segments, and the table gives wall
time and this process's CPU time (steadier on a shared machine).

Nouns come from WordNet 3.0's noun index (``/usr/share/wordnet`` or nltk's data) when
present, else from a small built-in list.
"""

import argparse
import json
import os
import platform
from pathlib import Path
from unittest.mock import patch

import numpy as np

BUILTIN_NOUNS = (
    "dog cat airplane automobile bird deer frog horse ship truck apple aquarium_fish baby bear "
    "beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can castle "
    "caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup "
    "dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp "
    "lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom "
    "oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy "
    "porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk "
    "skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank "
    "telephone television tiger tractor train trout tulip turtle wardrobe whale willow_tree "
    "wolf woman worm golden_retriever hot-air_balloon espresso_machine sea_anemone"
).split()


def wordnet_nouns():
    """Noun lemma names of WordNet 3.0's index, or None when it is not installed."""
    candidates = [Path("/usr/share/wordnet/index.noun")]
    try:
        import nltk

        candidates += [Path(p) / "corpora" / "wordnet" / "index.noun" for p in nltk.data.path]
    except ImportError:
        pass
    for path in candidates:
        if path.is_file():
            with open(path, encoding="utf-8", errors="replace") as f:
                return [line.split(" ", 1)[0] for line in f if line and not line.startswith(" ")]
    return None


def make_prompts(n, seed=0):
    nouns = wordnet_nouns()
    source = "wordnet" if nouns else "builtin"
    nouns = nouns or BUILTIN_NOUNS
    rng = np.random.RandomState(seed)
    picked = rng.choice(len(nouns), size=n, replace=n > len(nouns))
    return [f"a photo of a {nouns[i].replace('_', ' ')}." for i in picked], source


def plain_encode(model, tokenizer, texts, batch_size, device):
    """The reference: open_clip's encode_text on full-context batches."""
    import torch
    import torch.nn.functional as F

    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            tokens = tokenizer(texts[start:start + batch_size]).to(device)
            out.append(F.normalize(model.encode_text(tokens).float(), dim=-1).cpu().numpy())
    return np.concatenate(out)


def interleaved(methods, texts, n_segments, repeats):
    """Time each method on the same segments, alternating, so load changes on a shared
    machine hit every method alike. Returns per-method wall seconds, CPU seconds of
    this process (steadier than wall time when other jobs compete for the cores), and
    the outputs."""
    import time

    bounds = np.linspace(0, len(texts), n_segments + 1).astype(int)
    wall = {name: 0.0 for name in methods}
    cpu = {name: 0.0 for name in methods}
    outputs = {name: [] for name in methods}
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        for name, fn in methods.items():
            best = (np.inf, np.inf)
            for _ in range(repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                out = fn(texts[lo:hi])
                best = min(best, (time.perf_counter() - t0, time.process_time() - c0))
            wall[name] += best[0]
            cpu[name] += best[1]
            outputs[name].append(out)
    return wall, cpu, {name: np.concatenate(outs) for name, outs in outputs.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-texts", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="200 prompts (for CI)")
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch CPU threads (0: torch's default). 1 by default: on a shared machine, "
             "OpenMP threads of small ops stall on each other and distort the comparison",
    )
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs")
    parser.add_argument("--segments", type=int, default=5,
                        help="the prompts are timed in this many alternating segments")
    parser.add_argument("--out", default="benchmarks/out/bench_text_encoding.json")
    args = parser.parse_args(argv)
    n_texts = 200 if args.quick else args.n_texts

    import open_clip
    import torch

    from skclip.embed import _text, load_clip
    from skclip.embed._text import encode_texts

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    texts, source = make_prompts(n_texts)
    model, _, tokenizer = load_clip(args.model, None, device, "fp32")

    warm = texts[:16]  # first calls pay one-off allocation costs
    plain_encode(model, tokenizer, warm, args.batch_size, device)
    encode_texts(model, tokenizer, warm, device=device, batch_size=args.batch_size)

    def truncation_only(batch):
        with patch.object(_text, "_standard_blocks", lambda model: False):
            return encode_texts(model, tokenizer, batch, device=device, batch_size=args.batch_size)

    methods = {
        "open_clip encode_text (full context)": (
            lambda batch: plain_encode(model, tokenizer, batch, args.batch_size, device)
        ),
        "skclip, sorted + truncated only": truncation_only,
        "skclip encode_text": (
            lambda batch: encode_texts(model, tokenizer, batch, device=device,
                                       batch_size=args.batch_size)
        ),
    }
    seconds, cpu_seconds, outputs = interleaved(methods, texts, args.segments, args.repeats)
    names = list(methods)
    ref = outputs[names[0]]
    max_diff = max(float(np.abs(ref - outputs[n]).max()) for n in names[1:])
    t_plain, t_fast = seconds[names[0]], seconds[names[-1]]
    lengths = (tokenizer(texts).argmax(dim=-1) + 1).numpy()

    c_plain = cpu_seconds[names[0]]
    rows = [
        (n, seconds[n], n_texts / seconds[n], t_plain / seconds[n], cpu_seconds[n],
         c_plain / cpu_seconds[n])
        for n in names
    ]
    print(f"{n_texts} prompts ({source} nouns), {args.model} random weights, CPU, "
          f"{torch.get_num_threads()} torch threads, batch {args.batch_size}; "
          f"token length mean {lengths.mean():.1f}, max {lengths.max()} of {tokenizer.context_length}")
    print(f"{'method':<38} {'wall s':>8} {'texts/s':>8} {'speed-up':>9} {'CPU s':>8} {'CPU speed-up':>13}")
    for name, sec, rate, speedup, csec, cspeedup in rows:
        print(f"{name:<38} {sec:>8.2f} {rate:>8.1f} {speedup:>8.1f}x {csec:>8.2f} {cspeedup:>12.1f}x")
    print(f"max |difference| between the two: {max_diff:.2e}")

    result = {
        "benchmark": "text_encoding",
        "model": args.model,
        "pretrained": None,
        "n_texts": n_texts,
        "noun_source": source,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "token_length_mean": float(lengths.mean()),
        "token_length_max": int(lengths.max()),
        "context_length": int(tokenizer.context_length),
        "plain_seconds": t_plain,
        "plain_texts_per_s": n_texts / t_plain,
        "skclip_seconds": t_fast,
        "skclip_texts_per_s": n_texts / t_fast,
        "speedup_cpu_time": c_plain / cpu_seconds[names[-1]],
        "plain_cpu_seconds": c_plain,
        "skclip_cpu_seconds": cpu_seconds[names[-1]],
        "truncation_only_cpu_seconds": cpu_seconds[names[1]],
        "truncation_only_seconds": seconds[names[1]],
        "truncation_only_texts_per_s": n_texts / seconds[names[1]],
        "segments": args.segments,
        "speedup": t_plain / t_fast,
        "max_abs_diff": max_diff,
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "open_clip": open_clip.__version__,
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    if max_diff > 1e-4:
        print("ERROR: the truncated path differs from encode_text by more than 1e-4")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
