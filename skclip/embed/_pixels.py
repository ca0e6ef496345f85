"""Getting pixels to the model: uint8 batches, and JPEG decoding on the model's device.

``CLIPEmbedder`` reads images in DataLoader workers. open_clip's image transform ends
with "to tensor, divide by 255, normalise"; everything before it (resize, centre crop,
mode conversion) works on PIL images. The workers therefore stop at the cropped
uint8 image and the last two steps run on the model's device: a batch crosses
process and host-device boundaries as uint8 (a quarter of the float32 bytes) and the
pixels the model sees are the same numbers as the full transform gives.

With ``decoder="torchvision"`` the workers only read JPEG files; decoding
(``torchvision.io.decode_jpeg``, nvJPEG on CUDA), resizing and cropping run on the
model's device. That removes the CPU decoding bottleneck on a GPU, at the price of
pixels that are close to, not identical with, PIL's (a different JPEG decoder and
bicubic kernel). Other files, in-memory images and JPEGs that fail to decode there go
through the PIL path, so what is readable and what is dropped does not change.
"""

import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torchvision import transforms as T

from ._images import _READ_ERRORS, load_rgb

_JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif")
_TO_TENSOR = ("ToTensor", "MaybeToTensor")


def split_preprocess(preprocess):
    """Split an image transform into its PIL part and its final normalisation.

    Parameters
    ----------
    preprocess : callable
        Usually a ``torchvision.transforms.Compose`` from open_clip.

    Returns
    -------
    split : tuple ``(pil_part, mean, std)`` or None
        ``pil_part`` maps a PIL image to the PIL image that the to-tensor step would
        receive; ``mean`` and ``std`` are the normalisation constants. None when the
        transform does not end with to-tensor followed by ``Normalize``.
    """
    steps = list(getattr(preprocess, "transforms", None) or [])
    if len(steps) < 2:
        return None
    *head, to_tensor, norm = steps
    if type(to_tensor).__name__ not in _TO_TENSOR or not isinstance(norm, T.Normalize):
        return None
    return T.Compose(head), tuple(map(float, norm.mean)), tuple(map(float, norm.std))


def _resize_crop_sizes(pil_part):
    """``(short_side, (crop_h, crop_w), interpolation)`` of a Resize + CenterCrop head."""
    steps = [s for s in pil_part.transforms if type(s).__name__ != "MaybeConvertMode"]
    if (len(steps) != 2 or not isinstance(steps[0], T.Resize)
            or not isinstance(steps[1], T.CenterCrop)):
        return None
    size = steps[0].size
    size = size[0] if isinstance(size, (list, tuple)) and len(size) == 1 else size
    if not isinstance(size, int) or steps[0].max_size is not None:
        return None
    crop = tuple(int(c) for c in steps[1].size)
    crop = crop * 2 if len(crop) == 1 else crop
    return size, crop, steps[0].interpolation


def _is_jpeg_path(item):
    return isinstance(item, (str, os.PathLike)) and os.fspath(item).lower().endswith(
        _JPEG_SUFFIXES)


class PixelDataset(torch.utils.data.Dataset):
    """One input -> ``(index, kind, payload, error)`` in a DataLoader worker.

    ``kind`` is ``"u8"`` (cropped uint8 CHW tensor), ``"float"`` (the full transform's
    output, for transforms that cannot be split), ``"jpeg"`` (the file's bytes, decoded
    later on the model's device) or None with ``error`` set.
    """

    def __init__(self, items, preprocess, decoder="pil"):
        self.items = items
        self.preprocess = preprocess
        self.split = split_preprocess(preprocess)
        self.decoder = decoder

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        item = self.items[i]
        try:
            if self.decoder == "torchvision" and _is_jpeg_path(item):
                with open(item, "rb") as fh:
                    data = fh.read()
                return i, "jpeg", torch.frombuffer(bytearray(data), dtype=torch.uint8), None
            return (i, *self.pixels(load_rgb(item)), None)
        except _READ_ERRORS as exc:
            return i, None, None, f"{type(exc).__name__}: {exc}"

    def pixels(self, image):
        """``(kind, tensor)`` for a decoded PIL image."""
        if self.split is None:
            return "float", self.preprocess(image)
        arr = np.asarray(self.split[0](image).convert("RGB"), dtype=np.uint8)
        return "u8", torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def collate_pixels(samples):
    """Group a batch by kind; keep the indices and errors of unreadable inputs."""
    batch = {"u8": [], "float": [], "jpeg": [], "failed": []}
    for i, kind, payload, err in samples:
        if kind is None:
            batch["failed"].append((i, err))
        else:
            batch[kind].append((i, payload))
    for kind in ("u8", "float"):
        if batch[kind]:
            idx, tensors = zip(*batch[kind])
            batch[kind] = (np.asarray(idx, dtype=np.int64), torch.stack(tensors))
    return batch


def _resize_crop_on_device(images, size, crop, interpolation):
    """open_clip's Resize(short side) + CenterCrop on decoded uint8 CHW tensors."""
    mode = {T.InterpolationMode.BICUBIC: "bicubic",
            T.InterpolationMode.BILINEAR: "bilinear"}.get(interpolation)
    if mode is None:
        raise ValueError(f"decoder='torchvision' supports bicubic or bilinear resizing, "
                         f"not {interpolation}")
    # one interpolate call per input size (a batch of camera photos has few sizes)
    groups = {}
    for i, img in enumerate(images):
        groups.setdefault(tuple(img.shape[-2:]), []).append(i)
    out = [None] * len(images)
    for (h, w), members in groups.items():
        short, long = (h, w) if h <= w else (w, h)
        new_long = int(size * long / short)  # torchvision's rounding of the long side
        nh, nw = (size, new_long) if h <= w else (new_long, size)
        x = torch.stack([images[i] for i in members]).float()
        x = F.interpolate(x, size=(nh, nw), mode=mode, align_corners=False, antialias=True)
        top, left = int(round((nh - crop[0]) / 2.0)), int(round((nw - crop[1]) / 2.0))
        if top < 0 or left < 0:
            raise ValueError("decoder='torchvision' needs the crop inside the resized image")
        x = x[..., top:top + crop[0], left:left + crop[1]].round_().clamp_(0, 255)
        for i, xi in zip(members, x.to(torch.uint8)):
            out[i] = xi
    return torch.stack(out)


class PixelFinisher:
    """Turns a collated batch into model input on ``device``: ``(indices, pixels, failed)``."""

    def __init__(self, dataset, device, dtype):
        self.dataset = dataset
        self.device = device
        self.dtype = dtype
        if dataset.split is not None:
            self.mean = torch.tensor(dataset.split[1], device=device).view(1, -1, 1, 1)
            self.std = torch.tensor(dataset.split[2], device=device).view(1, -1, 1, 1)
        self.sizes = None
        if dataset.decoder == "torchvision":
            self.sizes = None if dataset.split is None else _resize_crop_sizes(dataset.split[0])
            if self.sizes is None:
                raise ValueError(
                    "decoder='torchvision' needs open_clip's standard image transform "
                    f"(Resize, CenterCrop, to-tensor, Normalize); this model has {dataset.preprocess}")

    def __call__(self, batch):
        failed = list(batch["failed"])
        idx_parts, u8_parts, float_parts = [], [], []
        if batch["u8"]:
            idx_parts.append(batch["u8"][0])
            u8_parts.append(batch["u8"][1].to(self.device, non_blocking=True))
        if batch["jpeg"]:
            idx, pixels, more_failed = self._decode_jpegs(batch["jpeg"])
            failed += more_failed
            if len(idx):
                idx_parts.append(idx)
                u8_parts.append(pixels)
        if batch["float"]:
            float_parts.append(batch["float"][1].to(self.device, non_blocking=True))
            idx_parts.append(batch["float"][0])
        if not idx_parts:
            return np.empty(0, dtype=np.int64), None, failed
        parts = []
        if u8_parts:
            # ToTensor then Normalize, as the full transform computes them, in float32
            x = torch.cat(u8_parts).to(torch.float32).div(255)
            parts.append(x.sub_(self.mean).div_(self.std))
        parts += [p.to(torch.float32) for p in float_parts]
        return np.concatenate(idx_parts), torch.cat(parts).to(self.dtype), failed

    def _decode_jpegs(self, entries):
        with warnings.catch_warnings():  # torchvision >= 0.29 points to TorchCodec on import
            warnings.simplefilter("ignore", DeprecationWarning)
            from torchvision.io import ImageReadMode, decode_jpeg

        idx = [i for i, _ in entries]
        data = [d for _, d in entries]
        try:
            images = decode_jpeg(data, mode=ImageReadMode.RGB, device=self.device,
                                 apply_exif_orientation=True)
        except RuntimeError:  # one bad file fails the batch call: decode one by one
            images = []
            for d in data:
                try:
                    images.append(decode_jpeg(d, mode=ImageReadMode.RGB, device=self.device,
                                              apply_exif_orientation=True))
                except RuntimeError:
                    images.append(None)
        ok_idx, ok_images, pil_idx, pil_pixels, failed = [], [], [], [], []
        for i, img in zip(idx, images):
            if img is not None:
                ok_idx.append(i)
                ok_images.append(img)
                continue
            try:  # what nvJPEG cannot decode (CMYK, progressive on some GPUs): PIL decides
                pil_pixels.append(self.dataset.pixels(load_rgb(self.dataset.items[i]))[1])
                pil_idx.append(i)
            except _READ_ERRORS as exc:
                failed.append((i, f"{type(exc).__name__}: {exc}"))
        parts = []
        if ok_images:
            parts.append(_resize_crop_on_device(ok_images, *self.sizes))
        if pil_pixels:
            parts.append(torch.stack(pil_pixels).to(self.device))
        out_idx = np.asarray(ok_idx + pil_idx, dtype=np.int64)
        return out_idx, (torch.cat(parts) if parts else None), failed


__all__ = ["PixelDataset", "PixelFinisher", "collate_pixels", "split_preprocess"]
