"""Images into {{PACKAGE}}: reading image files safely, and the model's
image processor (from `preprocessor_config.json`).

`load_image(path)` gives an 8-bit RGB `PIL.Image` or raises `ImageError`
naming the file and the rule broken. What it converts, always the same way:

- EXIF orientation is applied (the image as a viewer shows it);
- the first frame of an animated or multi-page file is used;
- transparency (an alpha band, or a palette's transparent colour) is
  composited over white, then the alpha dropped (transformers' rule);
- grayscale, bilevel, palette, CMYK and YCbCr images are converted to RGB
  by Pillow (CMYK without a colour profile: the naive formula);
- 16-bit samples keep their high byte (value // 256);
- 32-bit integer and floating-point images are refused (no agreed scale).

Refused before anything is decoded: empty files, files Pillow cannot
identify, images with a zero side, and images of more than `MAX_PIXELS`
pixels (a decompression bomb declares a huge size in a small file).
Truncated or corrupt image data is refused when decoded.

`ImageProcessor` reproduces the Hugging Face image processors' PIL path
step by step — resize with the checkpoint's resampling filter, centre
crop, rescale, normalise — so its `pixel_values` equal transformers'
exactly on the same image.
"""

import json
import os
from typing import List, Sequence

import numpy as np

# The largest image accepted, in pixels (width * height).
MAX_PIXELS = 64 * 1024 * 1024
# The largest image file read, in bytes.
MAX_FILE_BYTES = 256 * 1024 * 1024
# File name extensions taken from a folder of images.
EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class ImageError(ValueError):
    """An image file that cannot be used, with the file and the reason."""


def load_image(path: str, max_pixels: int = MAX_PIXELS):
    """An 8-bit RGB PIL image from a file (see the module notes)."""
    from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise ImageError(f"{path}: cannot read the file ({e.strerror or e})") from None
    if size == 0:
        raise ImageError(f"{path}: the file is empty")
    if size > MAX_FILE_BYTES:
        raise ImageError(f"{path}: {size} bytes is more than the {MAX_FILE_BYTES} an image file may have")
    # Pillow's own bomb check is replaced by the one below, which names the
    # declared size and runs before any pixel is decoded.
    old_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        try:
            im = Image.open(path)
        except UnidentifiedImageError:
            raise ImageError(f"{path}: not an image Pillow can read (an unknown format, or an invalid header)") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise ImageError(f"{path}: cannot read the image header ({e})") from None
        w, h = im.size
        if w <= 0 or h <= 0:
            raise ImageError(f"{path}: the image is {w}x{h} pixels (a side is zero)")
        if w * h > max_pixels:
            raise ImageError(f"{path}: declared size {w}x{h} ({w * h} pixels) is more than the limit of {max_pixels} pixels")
        try:
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)
            im.load()
            im = ImageOps.exif_transpose(im)
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise ImageError(f"{path}: truncated or corrupt image data ({e})") from None
        return to_rgb(im, path)
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit


def to_rgb(im, path: str = "<image>"):
    """An 8-bit RGB copy of a PIL image (the conversions of `load_image`)."""
    from PIL import Image

    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N") or (mode == "I" and _max_value(im) <= 0xFFFF):
        a = np.asarray(im).astype(np.uint32)
        im = Image.fromarray((a >> 8).astype(np.uint8), mode="L")
    elif mode in ("I", "F") or mode.startswith(("I;", "F;")):
        raise ImageError(f"{path}: {mode} images (32-bit integer or floating-point samples) have no agreed 8-bit scale; convert the file to 8 or 16 bits")
    has_alpha = "A" in im.getbands() or im.info.get("transparency") is not None
    if has_alpha:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB") if im.mode != "RGB" else im


def _max_value(im) -> int:
    lo, hi = im.getextrema()
    return int(hi)


# The keys of preprocessor_config.json this processor reads, and those it
# may ignore (they do not change pixel values). Any other key is refused.
READ = (
    "do_resize",
    "size",
    "resample",
    "do_center_crop",
    "crop_size",
    "do_rescale",
    "rescale_factor",
    "do_normalize",
    "image_mean",
    "image_std",
    "do_convert_rgb",
    "do_pad",
    "crop_pct",
)
IGNORED = ("image_processor_type", "processor_class", "feature_extractor_type", "return_tensors", "input_data_format", "default_to_square")
# Keys newer transformers saves that change nothing while unset.
IGNORED_IF_UNSET = ("device", "disable_grouping", "pad_size")
# Processor types and whether an integer `size` means a square (True) or
# the shortest edge (False), as each transformers class reads it.
TYPES = {
    "ViTImageProcessor": True,
    "DeiTImageProcessor": True,
    "BeitImageProcessor": True,
    "BitImageProcessor": False,
    "CLIPImageProcessor": False,
    "SiglipImageProcessor": True,
    "ConvNextImageProcessor": False,
}


class ImageProcessor:
    """Images -> `pixel_values` [B, C, H, W] float32, as transformers' image
    processor of the checkpoint computes them (its PIL backend)."""

    def __init__(self, cfg: dict, where: str = "preprocessor_config.json"):
        kind = cfg.get("image_processor_type") or cfg.get("feature_extractor_type", "").replace("FeatureExtractor", "ImageProcessor")
        kind = kind[:-4] if kind.endswith("Fast") else kind
        if kind not in TYPES:
            raise ValueError(f"{where}: image_processor_type {kind!r} is not implemented ({', '.join(TYPES)})")
        unset = [k for k in IGNORED_IF_UNSET if cfg.get(k) in (None, False)]
        if cfg.get("data_format") in (None, "channels_first"):
            unset.append("data_format")
        unknown = sorted(k for k in cfg if k not in READ and k not in IGNORED and k not in unset)
        if unknown:
            raise ValueError(f"{where}: {', '.join(unknown)}: not implemented by this processor")
        if cfg.get("do_pad"):
            raise ValueError(f"{where}: do_pad: padding is not implemented by this processor")
        self.kind = kind
        # ConvNeXt: below 384, resize the shortest edge to edge / crop_pct,
        # then crop edge x edge from the centre; from 384 on, warp to a square.
        self.crop_pct = float(cfg.get("crop_pct") or 224 / 256) if kind == "ConvNextImageProcessor" else None
        if cfg.get("crop_pct") is not None and kind != "ConvNextImageProcessor":
            raise ValueError(f"{where}: crop_pct: read only by ConvNextImageProcessor, not {kind}")
        self.do_resize = bool(cfg.get("do_resize", True))
        self.size = self._size(cfg.get("size", 224), TYPES[kind], where, "size")
        self.resample = int(cfg.get("resample", 2))
        self.do_center_crop = bool(cfg.get("do_center_crop", False))
        self.crop_size = self._size(cfg.get("crop_size", 224), True, where, "crop_size") if self.do_center_crop else None
        self.do_rescale = bool(cfg.get("do_rescale", True))
        self.rescale_factor = float(cfg.get("rescale_factor", 1 / 255))
        self.do_normalize = bool(cfg.get("do_normalize", True))
        self.image_mean = cfg.get("image_mean", [0.5, 0.5, 0.5])
        self.image_std = cfg.get("image_std", [0.5, 0.5, 0.5])
        for name in ("image_mean", "image_std"):
            v = getattr(self, name)
            if isinstance(v, (int, float)):
                setattr(self, name, [float(v)] * 3)
            elif not (isinstance(v, list) and len(v) == 3):
                raise ValueError(f"{where}: {name} {v!r}: expected three values (R, G, B)")

    @staticmethod
    def _size(v, square: bool, where: str, key: str) -> dict:
        if isinstance(v, int):
            return {"height": v, "width": v} if square else {"shortest_edge": v}
        if isinstance(v, (list, tuple)) and len(v) == 2:
            return {"height": int(v[0]), "width": int(v[1])}
        if isinstance(v, dict):
            if set(v) == {"height", "width"} or set(v) == {"shortest_edge"}:
                return {k: int(x) for k, x in v.items()}
        raise ValueError(f"{where}: {key} {v!r}: expected height and width, or shortest_edge")

    @classmethod
    def from_dir(cls, path: str) -> "ImageProcessor":
        f = os.path.join(path, "preprocessor_config.json")
        with open(f) as fh:
            return cls(json.load(fh), f)

    def output_size(self, height: int, width: int):
        """The (height, width) the resize step gives for an image."""
        s = self.size
        if "height" in s:
            return s["height"], s["width"]
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = s["shortest_edge"], int(s["shortest_edge"] * long / short)
        return (new_long, new_short) if width <= height else (new_short, new_long)

    def one(self, image) -> np.ndarray:
        """One RGB PIL image -> [3, H, W] float32."""
        if image.mode != "RGB":
            image = to_rgb(image)
        crop = None
        if self.do_resize and self.crop_pct is not None:
            edge = self.size.get("shortest_edge")
            if edge is None:
                raise ValueError("ConvNextImageProcessor: size must hold shortest_edge")
            if edge < 384:
                short, long = (image.width, image.height) if image.width <= image.height else (image.height, image.width)
                s = int(edge / self.crop_pct)
                h, w = (int(s * long / short), s) if image.width <= image.height else (s, int(s * long / short))
                crop = (edge, edge)
            else:
                h, w = edge, edge
            image = image.resize((w, h), resample=self.resample)
        elif self.do_resize:
            h, w = self.output_size(image.height, image.width)
            image = image.resize((w, h), resample=self.resample)
        x = np.array(image).transpose(2, 0, 1)
        if crop is not None:
            x = center_crop(x, *crop)
        if self.do_center_crop:
            x = center_crop(x, self.crop_size["height"], self.crop_size["width"])
        if self.do_rescale:
            x = (x.astype(np.float64) * self.rescale_factor).astype(np.float32)
        if self.do_normalize:
            if not np.issubdtype(x.dtype, np.floating):
                x = x.astype(np.float32)
            mean = np.array(self.image_mean, dtype=x.dtype)
            std = np.array(self.image_std, dtype=x.dtype)
            x = ((x.T - mean) / std).T
        return x.astype(np.float32)

    def __call__(self, images: Sequence) -> np.ndarray:
        """RGB PIL images -> [B, 3, H, W] float32 (one size for every image)."""
        out: List[np.ndarray] = [self.one(im) for im in images]
        shapes = {x.shape for x in out}
        if len(shapes) > 1:
            raise ValueError(f"the processor gave images of different sizes {sorted(shapes)}: they cannot form one batch")
        return np.stack(out)


def center_crop(x: np.ndarray, ch: int, cw: int) -> np.ndarray:
    """[C, H, W] cropped to (ch, cw) around the centre; zero-padded first
    where the image is smaller (transformers' rule)."""
    _, h, w = x.shape
    top, left = (h - ch) // 2, (w - cw) // 2
    if top >= 0 and left >= 0:
        return x[:, top : top + ch, left : left + cw]
    nh, nw = max(ch, h), max(cw, w)
    padded = np.zeros(x.shape[:-2] + (nh, nw), dtype=x.dtype)
    tp, lp = -(-(nh - h) // 2), -(-(nw - w) // 2)
    padded[:, tp : tp + h, lp : lp + w] = x
    top, left = top + tp, left + lp
    return padded[:, max(0, top) : min(nh, top + ch), max(0, left) : min(nw, left + cw)]

