"""uint8 batches and JPEG decoding on the model's device (skclip.embed._pixels)."""

import numpy as np
import pytest
import torch
from PIL import Image

from skclip import CLIPEmbedder
from skclip.embed import load_clip
from skclip.embed._images import load_rgb
from skclip.embed._pixels import PixelDataset, PixelFinisher, collate_pixels, split_preprocess


def _photos(folder, n=6, seed=0):
    """Smooth JPEGs of several sizes and aspect ratios (photo-like content)."""
    rng = np.random.RandomState(seed)
    paths = []
    for i in range(n):
        h, w = [(48, 48), (60, 40), (37, 90), (120, 80), (32, 32), (75, 50)][i % 6]
        small = Image.fromarray(rng.randint(0, 256, (5, 5, 3), dtype=np.uint8))
        path = folder / f"img{i}.jpg"
        small.resize((w, h), Image.BICUBIC).save(path, quality=95)
        paths.append(str(path))
    return paths


def _finish(paths, preprocess, decoder="pil"):
    ds = PixelDataset(paths, preprocess, decoder)
    return PixelFinisher(ds, torch.device("cpu"), torch.float32)(
        collate_pixels([ds[i] for i in range(len(paths))]))


def test_uint8_batches_give_exactly_the_full_transform(tmp_path, tiny_model_name):
    _, preprocess, _ = load_clip(tiny_model_name, None, "cpu", "fp32")
    assert split_preprocess(preprocess) is not None
    paths = _photos(tmp_path)
    idx, pixels, failed = _finish(paths, preprocess)
    assert failed == [] and idx.tolist() == list(range(len(paths)))
    ref = torch.stack([preprocess(load_rgb(p)) for p in paths])
    assert torch.equal(pixels, ref)  # same numbers, not only close


def test_transform_that_cannot_be_split_runs_whole_in_the_worker(tmp_path):
    def preprocess(im):
        return torch.from_numpy(np.asarray(im.resize((8, 8)), dtype=np.float32).copy())

    assert split_preprocess(preprocess) is None
    paths = _photos(tmp_path, n=2)
    idx, pixels, _ = _finish(paths, preprocess)
    assert torch.equal(pixels, torch.stack([preprocess(load_rgb(p)) for p in paths]))


def test_torchvision_decoder_is_close_to_pillow(tmp_path, tiny_model_name):
    _, preprocess, _ = load_clip(tiny_model_name, None, "cpu", "fp32")
    paths = _photos(tmp_path)
    Image.new("RGB", (40, 30), "blue").save(tmp_path / "x.png")  # not a JPEG: Pillow path
    _ = (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    paths += [str(tmp_path / "x.png"), str(tmp_path / "bad.jpg")]
    ref_idx, ref, _ = _finish(paths, preprocess)
    idx, pixels, failed = _finish(paths, preprocess, "torchvision")
    assert [i for i, _ in failed] == [len(paths) - 1]  # the same file is dropped
    order = np.argsort(idx)
    assert idx[order].tolist() == ref_idx.tolist()
    diff = (pixels[order] - ref).abs()
    # normalised units (1/255 of the range is ~0.015): kernels and decoders differ a little
    assert float(diff.mean()) < 0.03 and float(diff.max()) < 0.5


def test_embedder_decoders_agree_and_report_the_same_drops(tmp_path, tiny_model_name):
    paths = _photos(tmp_path, n=6)
    _ = (tmp_path / "broken.jpg").write_bytes(b"nothing")
    paths.append(str(tmp_path / "broken.jpg"))
    out = {}
    for decoder in ("pil", "torchvision"):
        emb = CLIPEmbedder(model=tiny_model_name, pretrained=None, device="cpu", batch_size=4,
                           decoder=decoder, on_error="skip", verbose=0)
        out[decoder] = (emb.fit_transform(paths), [d.index for d in emb.dropped_])
    assert out["pil"][1] == out["torchvision"][1] == [6]
    cos = np.sum(out["pil"][0] * out["torchvision"][0], axis=1)
    assert np.all(cos > 0.98), cos


def test_decoder_is_validated():
    with pytest.raises(ValueError, match="decoder"):
        CLIPEmbedder(decoder="nvjpeg").fit()


@pytest.mark.gpu
def test_torchvision_decoder_on_cuda_matches_cpu_decoding(tmp_path, tiny_model_name):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    import open_clip

    paths = _photos(tmp_path, n=12)
    torch.manual_seed(0)  # one set of random weights for both devices, through a file
    weights = tmp_path / "tiny.pt"
    torch.save(open_clip.create_model(tiny_model_name, pretrained=None).state_dict(), weights)
    X = {}
    for decoder in ("pil", "torchvision"):
        X[decoder] = CLIPEmbedder(model=tiny_model_name, pretrained=str(weights), device="cuda",
                                  precision="fp32", decoder=decoder,
                                  verbose=0).fit_transform(paths)
    ref = CLIPEmbedder(model=tiny_model_name, pretrained=str(weights), device="cpu",
                       verbose=0).fit_transform(paths)
    np.testing.assert_allclose(X["pil"], ref, atol=2e-4)  # uint8 path: the same pixels
    assert np.all(np.sum(X["torchvision"] * ref, axis=1) > 0.98)
