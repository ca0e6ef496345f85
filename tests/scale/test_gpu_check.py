"""The CPU-side pieces of benchmarks/gpu_check.py (it runs unattended on a lent GPU)."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import TINY_CONFIG

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.path[:] = [p for p in sys.path if p != str(ROOT / "benchmarks")]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from skclip.embed import load_clip

    path = tmp_path_factory.mktemp("gpucheck_cfg") / "skclip-tiny-gpucheck.json"
    path.write_text(json.dumps(TINY_CONFIG))
    return str(path), load_clip(str(path), None, "cpu", "fp32")


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpucheck_jpegs")
    rng = np.random.RandomState(0)
    for i, (h, w) in enumerate([(32, 32), (40, 24), (32, 32), (50, 70)]):
        # smooth content, as photos have: two resamplers agree on it (not on pixel noise)
        small = Image.fromarray(rng.randint(0, 256, (4, 4, 3), dtype=np.uint8))
        small.resize((w, h), Image.BILINEAR).save(root / f"{i}.jpg", quality=95)
    return sorted(str(p) for p in root.glob("*.jpg"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="the no-CUDA message needs no CUDA")
def test_without_cuda_exits_with_a_clear_message(gpu_check, capsys, tmp_path):
    assert gpu_check.main(["--out-json", str(tmp_path / "x.json")]) == gpu_check.NO_CUDA_STATUS
    assert "no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_throughput_steps_run_on_cpu(gpu_check, tiny, jpegs):
    path, (model, preprocess, _) = tiny
    out = gpu_check.model_throughput(model, "cpu", torch.float32, 4, 0.05)
    assert out["images_per_s"] > 0
    out = gpu_check.cpu_decode_throughput(jpegs, preprocess, 2, 0)
    assert out["n_images"] == 4
    out = gpu_check.gpu_decode_throughput(jpegs, preprocess, model, "cpu", torch.float32, 3)
    assert out["n_images"] == 4 and out["images_per_s"] > 0
    for decoder in ("pil", "torchvision"):
        out = gpu_check.embedder_throughput(jpegs, path, "cpu", 2, 0, "fp32", decoder)
        assert out["n_images"] == 4 and out["decoder"] == decoder


def test_run_step_records_errors_and_budget_skips(gpu_check):
    results = {}
    budget = gpu_check.Budget(100)
    gpu_check.run_step(results, "ok", budget, 1, lambda: {"x": 1})
    gpu_check.run_step(results, "bad", budget, 1, lambda: 1 / 0)
    gpu_check.run_step(results, "late", budget, 1000, lambda: {"x": 2})
    assert results["ok"]["x"] == 1 and "wall_s" in results["ok"]
    assert results["bad"]["error"].startswith("ZeroDivisionError")
    assert "budget" in results["late"]["skipped"]


def test_jpeg_paths_from_the_shared_assets(gpu_check, assets_dir, tmp_path):
    paths = gpu_check.jpeg_paths(30, tmp_path)
    assert len(paths) == 30 and all(Path(p).suffix == ".jpg" for p in paths)
