"""Where a training session's batches come from: random tensors, the 8×8 digits, a folder of images.

Every source answers one question, :meth:`DataSource.batch`: given the model's
input shape, its output shape and the kind of target the loss wants, give me
``(inputs, targets)`` as CPU tensors. The session moves them to its device.

Target kinds:

* ``"values"``: a float tensor shaped like the output (MSE, L1, custom losses).
  Class data gives one-hot rows here.
* ``"classes"``: class indices, ``(N,)`` for an ``(N, C)`` output (cross
  entropy, NLL).

Shapes always include the batch dimension. A source's ``batch_size`` (None:
take the batch dimension of the model's input shape) decides N.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from gradviz.core.shapes import format_shape

__all__ = [
    "CLASSES",
    "DATA_SOURCES",
    "DataError",
    "DataSource",
    "DigitsData",
    "FolderData",
    "GivenData",
    "IMAGE_SUFFIXES",
    "RandomData",
    "VALUES",
    "make_data",
]

VALUES, CLASSES = "values", "classes"
TARGET_KINDS = (VALUES, CLASSES)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_PIL_FORMATS = ("PNG", "JPEG")  # the decoders for IMAGE_SUFFIXES

Shape = tuple[int, ...]


class DataError(ValueError):
    """Data that cannot feed the model: wrong shapes, missing folder, unreadable image …"""


class DataSource:
    """Base class: produces ``(inputs, targets)`` batches for a model.

    Subclasses implement :meth:`batch`. ``name`` is the ``make_data`` name.
    """

    name = "data"

    def __init__(self, batch_size: int | None = None):
        if batch_size is not None and (not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1):
            raise DataError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        self.batch_size = batch_size

    def batch(self, input_shape: Sequence[int], output_shape: Sequence[int], target: str) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch for a model taking ``input_shape`` and giving ``output_shape``.

        ``target`` is ``"values"`` or ``"classes"`` (see the module docstring).
        """
        raise NotImplementedError

    def describe(self) -> str:
        """One line for the UI's status bar."""
        return self.name

    # -- helpers for subclasses -------------------------------------------
    def _batch_size_for(self, input_shape: Shape) -> int:
        return self.batch_size if self.batch_size is not None else int(input_shape[0])


def _check_target(target: str) -> None:
    if target not in TARGET_KINDS:
        raise DataError(f"unknown target kind {target!r}; use one of: {', '.join(TARGET_KINDS)}")


# ---------------------------------------------------------------------------
# Random tensors, as in the tutorial


class RandomData(DataSource):
    """Gaussian inputs and targets, like the tutorial's ``torch.randn(1, 1, 32, 32)``.

    ``fixed=True`` (the default) returns the same batch on every call, like the
    tutorial's single ``input`` and ``target``: the loss then falls steadily,
    which is what a lecture wants to show. ``fixed=False`` draws a new batch
    each call. The values come from a private generator seeded with ``seed``,
    so the global random state is untouched and runs are reproducible.
    """

    name = "random"

    def __init__(self, seed: int = 0, fixed: bool = True, batch_size: int | None = None):
        super().__init__(batch_size)
        self.seed = int(seed)
        self.fixed = bool(fixed)
        self._generator = torch.Generator().manual_seed(self.seed)
        self._cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def batch(self, input_shape, output_shape, target):
        _check_target(target)
        input_shape, output_shape = tuple(input_shape), tuple(output_shape)
        n = self._batch_size_for(input_shape)
        key = (input_shape[1:], output_shape[1:], target, n)
        if self.fixed and key in self._cache:
            inputs, targets = self._cache[key]
            return inputs.clone(), targets.clone()
        if self.fixed:
            # Every shape gets its own reproducible batch, whatever was asked before.
            generator = torch.Generator().manual_seed(self.seed)
        else:
            generator = self._generator
        inputs = torch.randn((n, *input_shape[1:]), generator=generator)
        if target == CLASSES:
            if len(output_shape) < 2:
                raise DataError(
                    f"class targets need an output of shape (N, classes), but the model gives {format_shape(output_shape)}"
                )
            classes = output_shape[1]
            targets = torch.randint(0, classes, (n, *output_shape[2:]), generator=generator)
        else:
            targets = torch.randn((n, *output_shape[1:]), generator=generator)
        if self.fixed:
            self._cache[key] = (inputs, targets)
            return inputs.clone(), targets.clone()
        return inputs, targets

    def describe(self) -> str:
        return f"random tensors (seed {self.seed}, {'same batch every step' if self.fixed else 'new batch every step'})"


# ---------------------------------------------------------------------------
# Values someone typed in (a lecturer's x₁, x₂ and target)


class GivenData(DataSource):
    """The same given batch every step: ``inputs`` and ``targets`` as typed.

    ``inputs`` must match the model's input shape, batch included; a single
    sample may leave the batch dimension out (``[0.5, -1.0]`` for a ``(1, 2)``
    input). ``targets`` likewise for the output shape (float values), or class
    indices for class losses; None takes the fixed random targets
    ``RandomData(seed)`` would give. Shapes are checked when a batch is asked
    for: a mismatch is a :class:`DataError` naming both shapes.
    """

    name = "given"

    def __init__(self, inputs, targets=None, seed: int = 0):
        super().__init__(None)
        try:
            self.inputs = torch.as_tensor(inputs, dtype=torch.get_default_dtype()).clone()
            self.targets = None if targets is None else torch.as_tensor(targets).clone()
        except (TypeError, ValueError, RuntimeError) as exc:
            raise DataError(f"inputs and targets must be numbers or nested lists of numbers: {exc}") from None
        self._random = RandomData(seed=seed)

    @staticmethod
    def _fit(values: torch.Tensor, shape: Shape, what: str) -> torch.Tensor:
        if tuple(values.shape) == shape:
            return values
        if tuple(values.shape) == shape[1:] and shape[0] == 1:
            return values.reshape(shape)
        raise DataError(f"the given {what} has shape {format_shape(tuple(values.shape))}, but the model needs {format_shape(shape)}")

    def batch(self, input_shape, output_shape, target):
        _check_target(target)
        input_shape, output_shape = tuple(input_shape), tuple(output_shape)
        inputs = self._fit(self.inputs, input_shape, "input")
        if self.targets is None:
            _, targets = self._random.batch(input_shape, output_shape, target)
            return inputs.clone(), targets
        if target == CLASSES:
            targets = self._fit(self.targets, output_shape[:1] + output_shape[2:], "target")
            if targets.is_floating_point():
                if not torch.equal(targets, targets.round()):
                    raise DataError("class targets must be whole numbers (class indices)")
                targets = targets.long()
            if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= output_shape[1]):
                raise DataError(f"class targets must lie in 0…{output_shape[1] - 1}, got {targets.tolist()}")
            return inputs.clone(), targets.clone()
        targets = self._fit(self.targets.to(torch.get_default_dtype()), output_shape, "target")
        return inputs.clone(), targets.clone()

    def describe(self) -> str:
        text = f"given values: input {_typed_values(self.inputs)}"
        return text if self.targets is None else f"{text}, target {_typed_values(self.targets)}"


def _typed_values(values: torch.Tensor) -> str:
    """The values as typed: float32 keeps 0.3 as 0.30000001192092896, which a handout must not print."""
    def shortest(number) -> str:
        if not values.is_floating_point():
            return str(number)
        for digits in range(1, 18):
            text = f"{number:.{digits}g}"
            if torch.tensor(float(text), dtype=values.dtype).item() == number:
                return text
        return repr(number)

    def nested(items) -> str:
        return "[" + ", ".join(nested(item) if isinstance(item, list) else shortest(item) for item in items) + "]"

    listed = values.tolist()
    return nested(listed) if isinstance(listed, list) else shortest(listed)


# ---------------------------------------------------------------------------
# Labelled images: shared shape fitting


def _image_layout(sample_shape: Shape, source: str) -> tuple[int, int, int, bool]:
    """``(channels, height, width, flatten)`` that turns images into model inputs.

    Image models take ``(C, H, W)``; an MLP takes ``(F,)`` with F a square
    number, fed a flattened grey F = k·k image.
    """
    if len(sample_shape) == 3:
        c, h, w = sample_shape
        return c, h, w, False
    if len(sample_shape) == 1:
        features = sample_shape[0]
        side = math.isqrt(features)
        if side * side != features:
            raise DataError(
                f"{source}: the model takes {features} input features, which is not a square number of pixels "
                "(an MLP on images needs e.g. 64 = 8·8 or 1024 = 32·32 inputs)"
            )
        return 1, side, side, True
    raise DataError(
        f"{source}: the model's input {format_shape(sample_shape)} per sample is neither an image (C, H, W) "
        "nor a flat feature vector (F,)"
    )


def _fit_images(images: torch.Tensor, sample_shape: Shape, source: str) -> torch.Tensor:
    """Resize ``(N, C0, H0, W0)`` images in [0, 1] to the model's per-sample input shape."""
    channels, height, width, flatten = _image_layout(sample_shape, source)
    if images.shape[-2:] != (height, width):
        images = F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False)
    if images.shape[1] != channels:
        # Grey data for a colour model: the same grey in every channel.
        images = images.mean(dim=1, keepdim=True).repeat(1, channels, 1, 1)
    return images.reshape(images.shape[0], -1) if flatten else images


def _class_targets(labels: torch.Tensor, num_classes: int, output_shape: Shape, target: str, source: str) -> torch.Tensor:
    if len(output_shape) != 2 or output_shape[1] != num_classes:
        raise DataError(
            f"{source} has {num_classes} classes, but the model's output is {format_shape(output_shape)}; "
            f"its last layer must give {num_classes} values per sample, shape (N, {num_classes})"
        )
    if target == CLASSES:
        return labels.clone()
    return F.one_hot(labels, num_classes).to(torch.float32)


class _LabelledImages(DataSource):
    """Shared batching of a labelled image set: shuffled epochs from a seeded generator."""

    num_classes = 0

    def __init__(self, batch_size: int | None = None, seed: int = 0, shuffle: bool = True):
        super().__init__(batch_size)
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self._generator = torch.Generator().manual_seed(self.seed)
        self._order: list[int] = []
        self._cursor = 0
        self._fitted: dict[Shape, torch.Tensor] = {}

    def _images(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images ``(N, C, H, W)`` in [0, 1] and labels ``(N,)``; for fitting to a shape."""
        raise NotImplementedError

    def _inputs_for(self, sample_shape: Shape) -> torch.Tensor:
        fitted = self._fitted.get(sample_shape)
        if fitted is None:
            images, _ = self._images()
            fitted = self._fitted[sample_shape] = _fit_images(images, sample_shape, self.describe())
        return fitted

    def _labels(self) -> torch.Tensor:
        return self._images()[1]

    def _next_indices(self, n: int, total: int) -> torch.Tensor:
        picked = []
        while len(picked) < n:
            if self._cursor >= len(self._order):
                self._order = (
                    torch.randperm(total, generator=self._generator).tolist() if self.shuffle else list(range(total))
                )
                self._cursor = 0
            take = min(n - len(picked), len(self._order) - self._cursor)
            picked.extend(self._order[self._cursor: self._cursor + take])
            self._cursor += take
        return torch.tensor(picked, dtype=torch.long)

    def batch(self, input_shape, output_shape, target):
        _check_target(target)
        input_shape, output_shape = tuple(input_shape), tuple(output_shape)
        n = self._batch_size_for(input_shape)
        # Check the output first: it is the cheaper mistake to report.
        labels = self._labels()
        _class_targets(labels[:1], self.num_classes, (n, *output_shape[1:]), target, self.describe())
        inputs = self._inputs_for(input_shape[1:])
        index = self._next_indices(n, inputs.shape[0])
        targets = _class_targets(labels[index], self.num_classes, (n, *output_shape[1:]), target, self.describe())
        return inputs[index].clone(), targets


# ---------------------------------------------------------------------------
# scikit-learn's 8×8 digits


class DigitsData(_LabelledImages):
    """The 1,797 handwritten 8×8 digits that scikit-learn ships (no download), labels 0–9.

    Images are scaled to [0, 1] and fitted to the model's input: bilinearly
    resized to ``(H, W)`` (e.g. 32×32 for LeNet), repeated over channels for a
    colour model, or flattened for an MLP taking ``(F,)`` (64 for the native
    size, any square number otherwise). Targets are labels for cross entropy
    and NLL and one-hot rows for MSE/L1; the model's output must be ``(N, 10)``.
    Batches walk through shuffled epochs (``seed``), ``batch_size`` samples each.
    """

    name = "digits"
    num_classes = 10

    def __init__(self, batch_size: int | None = None, seed: int = 0, shuffle: bool = True):
        super().__init__(batch_size, seed, shuffle)
        self._data: tuple[torch.Tensor, torch.Tensor] | None = None

    def _images(self):
        if self._data is None:
            from sklearn.datasets import (
                load_digits,  # sklearn is slow to import; only when used
            )

            digits = load_digits()
            images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
            labels = torch.as_tensor(digits.target, dtype=torch.long)
            self._data = (images, labels)
        return self._data

    def __len__(self) -> int:
        return int(self._images()[0].shape[0])

    def describe(self) -> str:
        return "digits (scikit-learn 8×8)"


# ---------------------------------------------------------------------------
# A folder of images, one subfolder per class


class FolderData(_LabelledImages):
    """Images in ``root/<class>/<file>.png|jpg``, one subfolder per class (like torchvision's ImageFolder).

    Classes are the subfolder names in sorted order (label 0 = first name);
    images in nested folders count for their top-level class. The folder is
    checked when the source is made (missing folder, no class folders, a class
    with no images: :class:`DataError`); the pixels are read on the first
    batch, converted to grey or RGB to match the model's channels, resized to
    its ``(H, W)`` and scaled to [0, 1]. A file that cannot be read is a
    ``DataError`` naming it. Needs Pillow.
    """

    name = "folder"

    def __init__(self, path, batch_size: int | None = None, seed: int = 0, shuffle: bool = True):
        super().__init__(batch_size, seed, shuffle)
        self.root = Path(path).expanduser()
        self.classes, self.files = _scan_folder(self.root)
        self.num_classes = len(self.classes)
        self._labels_tensor = torch.tensor([label for _, label in self.files], dtype=torch.long)
        self._pixels: dict[Shape, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.files)

    def _labels(self) -> torch.Tensor:
        return self._labels_tensor

    def _inputs_for(self, sample_shape: Shape) -> torch.Tensor:
        # Images of a folder differ in size, so each is resized on reading
        # straight to the model's size rather than stacked at a native size.
        fitted = self._fitted.get(sample_shape)
        if fitted is None:
            channels, height, width, flatten = _image_layout(sample_shape, self.describe())
            images = torch.stack([_read_image(path, channels, height, width) for path, _ in self.files])
            fitted = self._fitted[sample_shape] = images.reshape(images.shape[0], -1) if flatten else images
        return fitted

    def describe(self) -> str:
        return f"image folder {self.root}"


def _scan_folder(root: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    if not root.exists():
        raise DataError(f"image folder {root} does not exist")
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a folder of class subfolders")
    class_dirs = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    if not class_dirs:
        loose = [p.name for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        hint = f" (found {len(loose)} images directly in it: move them into one subfolder per class)" if loose else ""
        raise DataError(f"image folder {root} has no class subfolders{hint}")
    files: list[tuple[Path, int]] = []
    empty = []
    for label, folder in enumerate(class_dirs):
        images = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            empty.append(folder.name)
        files.extend((path, label) for path in images)
    if not files:
        raise DataError(f"image folder {root} contains no images ({', '.join(IMAGE_SUFFIXES)}) in its class subfolders")
    if empty:
        raise DataError(
            f"image folder {root}: class folder(s) {', '.join(empty)} contain no images ({', '.join(IMAGE_SUFFIXES)})"
        )
    return [p.name for p in class_dirs], files


def _read_image(path: Path, channels: int, height: int, width: int) -> torch.Tensor:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise DataError("reading an image folder needs Pillow: pip install Pillow") from None
    import numpy as np

    try:
        # Only the decoders for our suffixes: PIL picks a decoder by content, and some
        # (EPS: Ghostscript) run external programs on what the file says.
        with Image.open(path, formats=_PIL_FORMATS) as image:
            image = image.convert("RGB" if channels == 3 else "L")
            image = image.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.float32) / 255.0
    except Image.DecompressionBombError as exc:
        # A header can claim any size (20000×20000): PIL refuses to decode it, and so do we.
        raise DataError(f"image {path} is too large to read safely ({exc}); shrink it or move it out of the folder") from None
    except MemoryError:
        raise DataError(f"image {path} is too large to read into memory; shrink it or move it out of the folder") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        # PIL's decoders report damaged files with any of these.
        raise DataError(f"cannot read image {path}: {exc}") from None
    tensor = torch.from_numpy(pixels.copy())
    tensor = tensor.permute(2, 0, 1) if tensor.dim() == 3 else tensor.unsqueeze(0)
    if tensor.shape[0] != channels:
        tensor = tensor.repeat(channels, 1, 1)
    return tensor


# ---------------------------------------------------------------------------
# Factory for the UI

DATA_SOURCES = {"random": RandomData, "digits": DigitsData, "folder": FolderData}


def make_data(name: str, **kwargs) -> DataSource:
    """A data source by its UI name: ``"random"``, ``"digits"`` or ``"folder"`` (needs ``path=``).

    Keyword arguments go to the source's constructor (``seed``, ``batch_size``,
    ``fixed`` for random, ``shuffle`` for digits/folder).
    """
    cls = DATA_SOURCES.get(name)
    if cls is None:
        raise DataError(f"unknown data source {name!r}; use one of: {', '.join(DATA_SOURCES)}")
    if cls is FolderData and "path" not in kwargs:
        raise DataError("the 'folder' data source needs path= (a folder with one subfolder per class)")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise DataError(f"data source {name!r}: {exc}") from None
