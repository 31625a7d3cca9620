"""Image previews of artifacts: small PNG thumbnails re-encoded by Pillow (RELIABILITY.md S10).

An uploaded image is never shown as uploaded: the preview is a new PNG drawn from its pixels,
at most :data:`SIZE` wide and high, so nothing of the original file (metadata, trailing data,
a polyglot's other half) reaches the page. Decompression bombs are refused before any pixel is
decoded: an image declaring more than :data:`MAX_PIXELS` pixels gets no preview, and Pillow's own
bomb guard is set to the same bound. Only the types the upload check accepts as images are
previewed.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

# The largest photo a phone takes is about 50 megapixels; beyond that, no preview.
MAX_PIXELS = 50_000_000
SIZE = (320, 320)
PREVIEWABLE = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_FORMATS = ["PNG", "JPEG", "GIF", "WEBP"]

Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class NoPreview(Exception):
    """The file gets no preview (not an image we preview, damaged, or too many pixels)."""


def thumbnail(data: bytes) -> bytes:
    """A PNG thumbnail of an image's first frame, or ``NoPreview``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_FORMATS) as image:
                width, height = image.size
                if width < 1 or height < 1 or width * height > MAX_PIXELS:
                    raise NoPreview("too many pixels")
                image.draft("RGB", SIZE)  # JPEG: decode at a reduced scale
                image.seek(0)
                frame = image.convert("RGBA")
                frame.thumbnail(SIZE)
                out = io.BytesIO()
                frame.save(out, format="PNG", optimize=True)
                return out.getvalue()
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        ValueError,
        EOFError,
        SyntaxError,
    ) as exc:
        raise NoPreview(str(exc)) from exc
