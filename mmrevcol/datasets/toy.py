"""Deterministic toy datasets in the real ADE20K, COCO and ImageNet layouts.

The configs in ``configs/toy`` train RevCol / RevColV2 end to end on a CPU in
minutes. They need data that (a) sits in exactly the folder layout and file
formats of the real datasets, so the *stock* OpenMMLab dataset classes load
it unchanged, and (b) is easy enough that a tiny network learns it quickly.
This module draws such data procedurally with numpy, PIL and cv2 only.

One shared core, :func:`render_scene`, draws an RGB scene: a background made
of two or three horizontal "stuff" bands with a wavy boundary (outdoor:
``sky`` over ``road``; indoor: ``ceiling`` / ``wall`` / ``floor``), each with
its own colour and texture, and non-overlapping "thing" instances, each class
with a distinctive shape and a class-typical colour/texture plus random
jitter:

============  ==================  ==========================================
class         shape               colour / texture
============  ==================  ==========================================
building      upright rectangle   grey-brown with a grid of dark windows
tree          upright triangle    green with speckle noise
bed           rotated ellipse     crimson with horizontal stripes
windowpane    ring (annulus)      golden yellow, shaded from inside to out
============  ==================  ==========================================

Class names: the stock :class:`mmseg.datasets.ADE20KDataset` only accepts a
custom ``metainfo['classes']`` that is a subset of its 150 classes, and it
then remaps the label values of the annotation PNG from *ADE20K* indices to
indices in the new list (``label_map``). :data:`CLASSES` is therefore the
first nine classes of ADE20K, in ADE20K order: a PNG value ``v`` means class
``CLASSES[v - 1]`` both for the toy list and for the full ADE20K list, the
label map is the identity on every value that occurs, and the data stay
correct whichever of the two class lists a config uses. The names are
borrowed labels for the shapes above, nothing more.

Determinism: every image is drawn from its own
``numpy.random.SeedSequence([seed, mode, split, index])``, so the same seed
gives byte-identical files (on the same numpy / PIL / cv2 versions), a
different seed gives different files, and the images of one split do not
depend on how many images the other split has.

Writers are atomic: a dataset is built in a temporary folder beside
``out_dir`` and renamed into place; an existing non-empty ``out_dir`` is
refused unless ``force=True``, in which case it is replaced only after the
new dataset is complete.
"""
import contextlib
import json
import os
import os.path as osp
import shutil
import tempfile
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from PIL import Image

#: Every class of the toy data, in ADE20K order (the first nine ADE20K
#: classes, including ADE20K's trailing space in ``'bed '``).
#: The value of a pixel in an ADE20K-style annotation PNG is the index in
#: this tuple plus one; 0 means unlabeled.
CLASSES = ('wall', 'building', 'sky', 'floor', 'tree', 'ceiling', 'road',
           'bed ', 'windowpane')

#: Classes that form the background bands ("stuff").
STUFF_CLASSES = ('wall', 'sky', 'floor', 'ceiling', 'road')

#: Classes drawn as object instances ("things"), in :data:`CLASSES` order.
#: These are the COCO-style detection classes, category ids 1..4.
THING_CLASSES = ('building', 'tree', 'bed ', 'windowpane')

#: ImageNet-style classification classes: the thing classes without the
#: trailing space, sorted alphabetically. Sorted because mmpretrain's
#: ``CustomDataset`` assigns labels to class sub-folders in sorted order when
#: it scans folders instead of reading ``meta/*.txt``; with this order both
#: ways of loading give the same label to every image.
IMAGENET_CLASSES = tuple(sorted(name.strip() for name in THING_CLASSES))

#: RGB colour per class of :data:`CLASSES`, taken from the ADE20K palette so
#: visualisations look like those of real ADE20K.
PALETTE = (
    (120, 120, 120),  # wall
    (180, 120, 120),  # building
    (6, 230, 230),  # sky
    (80, 50, 50),  # floor
    (4, 200, 3),  # tree
    (120, 120, 80),  # ceiling
    (140, 140, 140),  # road
    (204, 5, 255),  # bed
    (230, 230, 230),  # windowpane
)

#: Dataset kinds understood by :func:`make_toy_data`.
KINDS = ('ade20k', 'coco', 'imagenet')

#: Defaults per kind, chosen for a CPU demo on two cores:
#:
#: - ade20k / coco: 128x128 scenes, 200 train + 40 val. 128 is a multiple
#:   of 32, so every backbone stage (strides 4..32) sees a whole feature map
#:   (32x32 down to 4x4) and objects (23..49 px) stay "small"/"medium" in
#:   COCO terms; 200 images (~2 MB) make 50-100 iterations per epoch at
#:   batch 2-4, quick on a CPU; 40 val images evaluate in seconds.
#: - imagenet: 64x64 single-object images, 400 train (100 per class) + 80
#:   val (20 per class): one object filling half the frame is recognisable
#:   at 64 px, and a classifier fits it in a few CPU minutes.
DEFAULTS = dict(
    ade20k=dict(num_train=200, num_val=40, img_size=(128, 128)),
    coco=dict(num_train=200, num_val=40, img_size=(128, 128)),
    imagenet=dict(num_train=400, num_val=80, img_size=(64, 64)),
)

#: Smallest allowed image side: the network strides go up to 32.
MIN_IMG_SIZE = 32

#: JPEG quality of every written image.
JPEG_QUALITY = 95

# Ranges of the scene generator, as fractions of min(height, width).
_SCENE_OBJECTS = (2, 5)  # inclusive range of instances per scene
_SCENE_OBJECT_SIZE = (0.18, 0.38)
_SINGLE_OBJECT_SIZE = (0.45, 0.7)
_MARGIN = 3  # minimum gap in pixels between two instances
_MAX_TRIES = 40  # placement attempts per instance

# SeedSequence keys.
_MODE_SCENE, _MODE_SINGLE = 0, 1
_SPLIT_KEY = dict(train=0, val=1)

# Class-typical base colours (RGB) of the drawn textures.
_STUFF_COLOURS = dict(
    sky=((95, 155, 225), (185, 218, 245)),  # top and horizon of a gradient
    road=((78, 78, 84), ),
    ceiling=((226, 224, 212), ),
    wall=((192, 166, 132), ),
    floor=((134, 88, 50), ),
)
_THING_COLOURS = dict(
    building=(122, 112, 106),
    tree=(42, 132, 52),
    bed=(192, 38, 78),
    windowpane=(236, 186, 38),
)


@dataclass
class ToyScene:
    """One drawn image with its annotations.

    Attributes:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB image.
        seg_map (np.ndarray): ``(H, W)`` uint8 semantic labels in the ADE20K
            convention: 0 is unlabeled (thin borders on the stuff side of
            every boundary), ``v`` in ``1..len(CLASSES)`` is class
            ``CLASSES[v - 1]``.
        masks (np.ndarray): ``(N, H, W)`` bool, one mask per instance.
            Instances never overlap, and ``seg_map`` is the instance's
            class value exactly on its mask.
        labels (np.ndarray): ``(N,)`` int64 index of each instance's class in
            :data:`CLASSES` (always a thing class).
    """
    image: np.ndarray
    seg_map: np.ndarray
    masks: np.ndarray
    labels: np.ndarray


# ---------------------------------------------------------------------------
# Metainfo for the stock dataset classes
# ---------------------------------------------------------------------------


def ade_metainfo() -> dict:
    """Metainfo for :class:`mmseg.datasets.ADE20KDataset` on toy ADE20K data.

    Returns:
        dict: ``classes`` (:data:`CLASSES`) and ``palette`` (list of RGB
        lists), a new object on every call.
    """
    return dict(classes=CLASSES, palette=[list(c) for c in PALETTE])


def coco_metainfo() -> dict:
    """Metainfo for :class:`mmdet.datasets.CocoDataset` on toy COCO data.

    Returns:
        dict: ``classes`` (:data:`THING_CLASSES`, matching the category names
        of the json files) and ``palette`` (list of RGB tuples).
    """
    return dict(
        classes=THING_CLASSES,
        palette=[tuple(PALETTE[CLASSES.index(c)]) for c in THING_CLASSES])


def imagenet_metainfo() -> dict:
    """Metainfo for :class:`mmpretrain.datasets.ImageNet` on toy ImageNet.

    Returns:
        dict: ``classes`` (:data:`IMAGENET_CLASSES`); label ``i`` in
        ``meta/*.txt`` is ``IMAGENET_CLASSES[i]``.
    """
    return dict(classes=IMAGENET_CLASSES)


# ---------------------------------------------------------------------------
# The procedural core
# ---------------------------------------------------------------------------


def _smooth_noise(rng: np.random.Generator, h: int, w: int,
                  cell: float) -> np.ndarray:
    """Zero-mean, unit-scale noise that varies over about ``cell`` pixels."""
    gh = max(2, int(round(h / cell)) + 1)
    gw = max(2, int(round(w / cell)) + 1)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)


def _jitter(rng: np.random.Generator, colour: Sequence[int],
            amount: float) -> np.ndarray:
    return np.asarray(colour, np.float32) + rng.uniform(
        -amount, amount, size=3).astype(np.float32)


def _stuff_texture(name: str, rng: np.random.Generator, h: int,
                   w: int) -> np.ndarray:
    """Full-frame ``(h, w, 3)`` float texture of one stuff class."""
    yy = np.arange(h, dtype=np.float32)[:, None, None]
    if name == 'sky':
        top, bottom = (_jitter(rng, c, 12) for c in _STUFF_COLOURS['sky'])
        t = yy / max(h - 1, 1)
        tex = top * (1 - t) + bottom * t
        tex = tex + 6 * _smooth_noise(rng, h, w, h / 3)[..., None]
        return np.broadcast_to(tex, (h, w, 3)).copy()
    base = _jitter(rng, _STUFF_COLOURS[name][0], 12)
    tex = np.broadcast_to(base, (h, w, 3)).copy()
    if name == 'road':
        tex += 12 * rng.standard_normal((h, w, 1)).astype(np.float32)
    elif name == 'ceiling':
        tex += 4 * _smooth_noise(rng, h, w, h / 4)[..., None]
    elif name == 'wall':
        tex += 10 * _smooth_noise(rng, h, w, h / 6)[..., None]
        tex += 3 * rng.standard_normal((h, w, 1)).astype(np.float32)
    elif name == 'floor':
        period = h / rng.uniform(8, 14)
        phase = rng.uniform(0, 2 * np.pi)
        tex *= 1 + 0.12 * np.sin(2 * np.pi * yy / period + phase)
        tex += 6 * rng.standard_normal((h, w, 1)).astype(np.float32)
    else:
        raise KeyError(f'unknown stuff class {name!r}')
    return tex


def _draw_background(rng: np.random.Generator, h: int,
                     w: int) -> Tuple[np.ndarray, np.ndarray]:
    """Stuff bands: returns ``(image float HxWx3, labels uint8 HxW)``."""
    if rng.random() < 0.5:
        names = ('sky', 'road')
        cuts = [rng.uniform(0.35, 0.6)]
    else:
        names = ('ceiling', 'wall', 'floor')
        cuts = [rng.uniform(0.15, 0.28), rng.uniform(0.55, 0.75)]
    xx = np.arange(w, dtype=np.float32)[None, :]
    yy = np.arange(h, dtype=np.float32)[:, None]
    band = np.zeros((h, w), np.int64)
    for cut in cuts:
        amp = rng.uniform(0, 0.03) * h
        period = rng.uniform(0.5, 1.5) * w
        phase = rng.uniform(0, 2 * np.pi)
        edge = cut * h + amp * np.sin(2 * np.pi * xx / period + phase)
        band += (yy >= edge).astype(np.int64)
    labels = np.array([CLASSES.index(n) + 1 for n in names], np.uint8)[band]
    image = np.zeros((h, w, 3), np.float32)
    for k, name in enumerate(names):
        sel = band == k
        image[sel] = _stuff_texture(name, rng, h, w)[sel]
    return image, labels


def _thing_mask(name: str, rng: np.random.Generator, h: int, w: int, cx: float,
                cy: float, size: float) -> np.ndarray:
    """Boolean ``(h, w)`` mask of one instance inside a ``size`` box."""
    xx = np.arange(w, dtype=np.float32)[None, :] - cx
    yy = np.arange(h, dtype=np.float32)[:, None] - cy
    half = size / 2
    if name == 'building':
        half_w = size * rng.uniform(0.25, 0.36)
        return (np.abs(xx) <= half_w) & (np.abs(yy) <= half)
    if name == 'tree':
        half_base = size * rng.uniform(0.35, 0.45)
        apex = (size * rng.uniform(-0.08, 0.08), -half)
        pts = (apex, (half_base, half), (-half_base, half))
        inside = np.ones((h, w), bool)
        for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1]):
            # the vertices run clockwise in image coordinates (y down)
            cross = (x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0)
            inside &= cross >= 0
        return inside
    if name == 'bed':
        b = half * rng.uniform(0.4, 0.55)
        theta = rng.uniform(-0.45, 0.45)
        u = xx * np.cos(theta) + yy * np.sin(theta)
        v = -xx * np.sin(theta) + yy * np.cos(theta)
        return (u / half)**2 + (v / b)**2 <= 1
    if name == 'windowpane':
        r_in = half * rng.uniform(0.45, 0.6)
        d2 = xx**2 + yy**2
        return (d2 <= half**2) & (d2 >= r_in**2)
    raise KeyError(f'unknown thing class {name!r}')


def _thing_texture(name: str, rng: np.random.Generator, mask: np.ndarray,
                   size: float) -> np.ndarray:
    """Full-frame ``(h, w, 3)`` float texture of one instance."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    y0, x0 = ys.min(), xs.min()
    yy = np.arange(h, dtype=np.float32)[:, None] - y0
    xx = np.arange(w, dtype=np.float32)[None, :] - x0
    base = _jitter(rng, _THING_COLOURS[name], 18)
    tex = np.broadcast_to(base, (h, w, 3)).copy()
    if name == 'building':
        period = max(3.0, size / 5)
        windows = ((xx % period) >= period / 2) & ((yy % period) >= period / 2)
        dark = _jitter(rng, (40, 48, 66), 8)
        tex[windows] = dark
        tex += 5 * rng.standard_normal((h, w, 1)).astype(np.float32)
    elif name == 'tree':
        tex += 20 * rng.standard_normal((h, w, 1)).astype(np.float32)
        tex += 10 * _smooth_noise(rng, h, w, max(size / 4, 2))[..., None]
    elif name == 'bed':
        period = max(3.0, size / 6)
        stripes = np.where((yy % period) < period / 2, 1.18, 0.82)
        tex *= stripes[..., None]
        tex += 4 * rng.standard_normal((h, w, 1)).astype(np.float32)
    elif name == 'windowpane':
        cy, cx = ys.mean(), xs.mean()
        r = np.sqrt((yy + y0 - cy)**2 + (xx + x0 - cx)**2) / max(size / 2, 1)
        tex *= (0.75 + 0.3 * np.clip(r, 0, 1))[..., None]
        tex += 6 * rng.standard_normal((h, w, 1)).astype(np.float32)
    else:
        raise KeyError(f'unknown thing class {name!r}')
    return tex


def _unlabeled_borders(seg_map: np.ndarray) -> np.ndarray:
    """Zero the stuff pixels next to any other label.

    Between two stuff bands this leaves a 2-pixel unlabeled band; around an
    instance a 1-pixel unlabeled outline on the stuff side, so every pixel
    of an instance keeps its label.
    """
    kernel = np.ones((3, 3), np.uint8)
    grow = cv2.dilate(seg_map, kernel, borderType=cv2.BORDER_REPLICATE)
    shrink = cv2.erode(seg_map, kernel, borderType=cv2.BORDER_REPLICATE)
    thing_values = np.array([CLASSES.index(c) + 1 for c in THING_CLASSES])
    out = seg_map.copy()
    out[(grow != shrink) & ~np.isin(seg_map, thing_values)] = 0
    return out


def render_scene(rng: np.random.Generator,
                 img_size: Tuple[int, int],
                 num_objects: Union[int, Tuple[int, int]] = _SCENE_OBJECTS,
                 thing: Optional[str] = None,
                 object_size: Tuple[float, float] = _SCENE_OBJECT_SIZE,
                 center_jitter: Optional[float] = None) -> ToyScene:
    """Draw one toy scene: stuff bands plus non-overlapping thing instances.

    Args:
        rng (np.random.Generator): Source of all randomness; the result is a
            pure function of its state and the other arguments.
        img_size (tuple[int, int]): ``(height, width)`` of the image.
        num_objects (int | tuple[int, int]): Number of instances, or an
            inclusive ``(low, high)`` range to draw it from. Instances that
            find no free place after a few tries are skipped, but the first
            one always fits. Defaults to ``(2, 5)``.
        thing (str, optional): If given, every instance has this class
            (a name of :data:`THING_CLASSES`, with or without the trailing
            space); otherwise each class is drawn uniformly.
        object_size (tuple[float, float]): Range of the instance box side as a
            fraction of ``min(height, width)``. Defaults to ``(0.18, 0.38)``.
        center_jitter (float, optional): If given, instance centres are drawn
            within this fraction of the image size around the image centre
            (used for single-object classification images); otherwise
            anywhere the instance fits.

    Returns:
        ToyScene: image, ADE20K-style label map, instance masks and labels.
    """
    h, w = img_size
    if isinstance(num_objects, int):
        count = num_objects
    else:
        count = int(rng.integers(num_objects[0], num_objects[1] + 1))
    names = [n.strip() for n in THING_CLASSES]
    if thing is not None and thing.strip() not in names:
        raise ValueError(f'thing must be one of {THING_CLASSES}, got '
                         f'{thing!r}')

    image, seg_map = _draw_background(rng, h, w)
    occupied = np.zeros((h, w), np.uint8)
    kernel = np.ones((2 * _MARGIN + 1, 2 * _MARGIN + 1), np.uint8)
    masks: List[np.ndarray] = []
    labels: List[int] = []
    short = min(h, w)
    for _ in range(count):
        name = (
            thing.strip() if thing is not None else names[int(
                rng.integers(len(names)))])
        for _ in range(_MAX_TRIES):
            size = rng.uniform(*object_size) * short
            half = size / 2 + 1
            if center_jitter is None:
                cx = rng.uniform(half, w - 1 - half)
                cy = rng.uniform(half, h - 1 - half)
            else:
                cx = np.clip(w / 2 + rng.uniform(-1, 1) * center_jitter * w,
                             half, w - 1 - half)
                cy = np.clip(h / 2 + rng.uniform(-1, 1) * center_jitter * h,
                             half, h - 1 - half)
            mask = _thing_mask(name, rng, h, w, cx, cy, size)
            if mask.sum() >= 4 and not (occupied[mask]).any():
                break
        else:
            continue
        image[mask] = _thing_texture(name, rng, mask, size)[mask]
        cls = CLASSES.index(THING_CLASSES[names.index(name)])
        seg_map[mask] = cls + 1
        occupied |= cv2.dilate(mask.astype(np.uint8), kernel)
        masks.append(mask)
        labels.append(cls)

    return ToyScene(
        image=np.clip(np.rint(image), 0, 255).astype(np.uint8),
        seg_map=_unlabeled_borders(seg_map),
        masks=(np.stack(masks) if masks else np.zeros((0, h, w), bool)),
        labels=np.asarray(labels, np.int64))


def scene_rng(seed: int,
              split: str,
              index: int,
              single_object: bool = False) -> np.random.Generator:
    """The generator that draws image ``index`` of ``split``.

    Args:
        seed (int): Dataset seed (>= 0).
        split (str): ``'train'`` or ``'val'``.
        index (int): 0-based image index within the split.
        single_object (bool): ImageNet-style image (True) or scene (False).
            Scenes are shared by the ADE20K and COCO kinds: the same seed,
            split, index and size give the same picture in both.

    Returns:
        np.random.Generator: a fresh, independent generator.
    """
    mode = _MODE_SINGLE if single_object else _MODE_SCENE
    return np.random.default_rng(
        np.random.SeedSequence([seed, mode, _SPLIT_KEY[split], index]))


def toy_scene(seed: int, split: str, index: int,
              img_size: Tuple[int, int]) -> ToyScene:
    """The multi-object scene written as image ``index`` of ``split``.

    This is what the ADE20K and COCO writers store, so tests and demos can
    redraw the exact ground truth of any written image.

    Args:
        seed (int): Dataset seed.
        split (str): ``'train'`` or ``'val'``.
        index (int): 0-based image index within the split.
        img_size (tuple[int, int]): ``(height, width)``.

    Returns:
        ToyScene: the scene.
    """
    return render_scene(scene_rng(seed, split, index), img_size)


def toy_object_image(seed: int, split: str, index: int,
                     img_size: Tuple[int, int]) -> Tuple[ToyScene, int]:
    """The single-object image written as ImageNet image ``index``.

    The class cycles through :data:`IMAGENET_CLASSES`, so every class has
    ``num // len(IMAGENET_CLASSES)`` or one more images.

    Args:
        seed (int): Dataset seed.
        split (str): ``'train'`` or ``'val'``.
        index (int): 0-based image index within the split.
        img_size (tuple[int, int]): ``(height, width)``.

    Returns:
        tuple[ToyScene, int]: the scene (one instance) and its label, an
        index into :data:`IMAGENET_CLASSES`.
    """
    label = index % len(IMAGENET_CLASSES)
    scene = render_scene(
        scene_rng(seed, split, index, single_object=True),
        img_size,
        num_objects=1,
        thing=IMAGENET_CLASSES[label],
        object_size=_SINGLE_OBJECT_SIZE,
        center_jitter=0.12)
    return scene, label


# ---------------------------------------------------------------------------
# COCO annotations
# ---------------------------------------------------------------------------


def _rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_util
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(
        size=[int(s) for s in rle['size']],
        counts=rle['counts'].decode('ascii'))


def _pixel_edge_polygon(contour: np.ndarray) -> List[float]:
    """Polygon along the outer pixel edges of a ``cv2.findContours`` contour.

    cv2 traces the centres of the boundary pixels. COCO polygons are in
    continuous coordinates where pixel ``(x, y)`` covers ``[x, x + 1) x
    [y, y + 1)``, and pycocotools fills the pixels whose centre lies inside,
    so the centre trace would drop about half of every boundary pixel. The
    trace (moved to pixel centres, ``+ 0.5``) is therefore offset outwards by
    half a pixel: every edge of a ``CHAIN_APPROX_SIMPLE`` contour runs in one
    of 8 directions, each vertex becomes the intersection of its two shifted
    edges, and a reversal (a one-pixel-wide spike) gets a square cap.
    """
    half = 0.5
    pts = contour.reshape(-1, 2).astype(np.float64) + 0.5
    if len(pts) == 1:
        x, y = pts[0]
        return [
            x - half, y - half, x + half, y - half, x + half, y + half,
            x - half, y + half
        ]
    nxt = np.roll(pts, -1, axis=0)
    area2 = float((pts[:, 0] * nxt[:, 1] - nxt[:, 0] * pts[:, 1]).sum())
    dirs = nxt - pts
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    # outward normal: right of the direction for a positively oriented ring
    normals = (1.0 if area2 >= 0 else -1.0) * np.stack(
        [dirs[:, 1], -dirs[:, 0]], axis=1)
    out = []
    for i, p in enumerate(pts):
        d1, n1, d2, n2 = dirs[i - 1], normals[i - 1], dirs[i], normals[i]
        cross = d1[0] * d2[1] - d1[1] * d2[0]
        if abs(cross) < 1e-9:
            if d1 @ d2 > 0:  # straight on
                out.append(p + n1 * half)
            else:  # turn back: square cap
                out += [p + (d1 + n1) * half, p + (d1 + n2) * half]
            continue
        a1, a2 = p + n1 * half, p + n2 * half
        diff = a2 - a1
        t = (diff[0] * d2[1] - diff[1] * d2[0]) / cross
        out.append(a1 + t * d1)
    return [float(v) for v in np.asarray(out).reshape(-1)]


def mask_to_segmentation(mask: np.ndarray) -> Union[List[List[float]], dict]:
    """COCO ``segmentation`` of a binary mask: exact polygons, else RLE.

    Polygons follow the outer pixel edges of each connected component
    (``cv2.findContours``, see :func:`_pixel_edge_polygon`). They are used
    only when the mask has no hole and their pycocotools rasterisation gives
    back exactly the mask; otherwise (the ring of ``windowpane``) the mask is
    stored as compressed RLE with ``counts`` as a str, which the COCO API and
    mmdet accept for ``iscrowd=0`` as well. Either way the annotation decodes
    to the mask pixel for pixel.

    Args:
        mask (np.ndarray): ``(H, W)`` bool or 0/1 array with at least one
            foreground pixel.

    Returns:
        list[list[float]] | dict: polygons ``[[x0, y0, x1, y1, ...], ...]``
        or an RLE dict ``{'size': [H, W], 'counts': str}``.
    """
    from pycocotools import mask as mask_util
    mask = np.asarray(mask).astype(bool)
    if mask.ndim != 2 or not mask.any():
        raise ValueError('mask must be a 2-D array with at least one '
                         f'foreground pixel, got shape {mask.shape} with '
                         f'{int(mask.sum())} foreground pixels')
    h, w = mask.shape
    contours, hierarchy = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if not (hierarchy[0][:, 3] >= 0).any():  # no hole
        polygons = [_pixel_edge_polygon(c) for c in contours]
        drawn = mask_util.decode(
            mask_util.merge(mask_util.frPyObjects(polygons, h, w))) > 0
        if np.array_equal(drawn, mask):
            return polygons
    return _rle(mask)


def coco_annotations(scene: ToyScene, image_id: int,
                     first_ann_id: int) -> List[dict]:
    """COCO ``annotations`` entries of one scene.

    Args:
        scene (ToyScene): The drawn scene.
        image_id (int): ``id`` of its entry in ``images``.
        first_ann_id (int): ``id`` of its first annotation.

    Returns:
        list[dict]: one entry per instance with ``id``, ``image_id``,
        ``category_id`` (1-based position in :data:`THING_CLASSES`),
        ``bbox`` (``[x, y, w, h]`` of the mask, pixel-edge convention),
        ``area`` (mask pixels), ``iscrowd`` (0) and ``segmentation``.
    """
    anns = []
    for k, (mask, label) in enumerate(zip(scene.masks, scene.labels)):
        ys, xs = np.nonzero(mask)
        x0, y0 = int(xs.min()), int(ys.min())
        anns.append(
            dict(
                id=first_ann_id + k,
                image_id=image_id,
                category_id=THING_CLASSES.index(CLASSES[label]) + 1,
                bbox=[
                    float(x0),
                    float(y0),
                    float(xs.max() - x0 + 1),
                    float(ys.max() - y0 + 1)
                ],
                area=float(mask.sum()),
                iscrowd=0,
                segmentation=mask_to_segmentation(mask)))
    return anns


# ---------------------------------------------------------------------------
# Argument checks and atomic output
# ---------------------------------------------------------------------------


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f'{name} must be an int, got {value!r} '
                        f'({type(value).__name__})')
    if value <= 0:
        raise ValueError(f'{name} must be a positive integer (> 0), got '
                         f'{value}')
    return int(value)


def normalize_img_size(img_size) -> Tuple[int, int]:
    """Check ``img_size`` and return it as ``(height, width)``.

    Args:
        img_size (int | Sequence[int]): ``S`` for ``S x S`` or ``(H, W)``.

    Returns:
        tuple[int, int]: ``(height, width)``, both >= :data:`MIN_IMG_SIZE`.
    """
    if isinstance(img_size,
                  (int, np.integer)) and not isinstance(img_size, bool):
        size = (int(img_size), int(img_size))
    elif (isinstance(img_size, (tuple, list)) and len(img_size) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool)
            for v in img_size)):
        size = (int(img_size[0]), int(img_size[1]))
    else:
        raise TypeError(f'img_size must be an int S or a pair of ints (H, W), '
                        f'got {img_size!r}')
    if min(size) < MIN_IMG_SIZE:
        raise ValueError(f'img_size must be >= {MIN_IMG_SIZE} in both '
                         f'height and width, got {img_size!r}')
    return size


def _check_out_dir(out_dir: str, force: bool) -> None:
    if osp.lexists(out_dir) and not osp.isdir(out_dir):
        raise NotADirectoryError(
            f'out_dir {out_dir!r} exists and is not a directory; choose '
            f'another out_dir')
    if osp.isdir(out_dir) and os.listdir(out_dir) and not force:
        raise FileExistsError(
            f'out_dir {out_dir!r} exists and is not empty; refusing to '
            f'overwrite it (pass force=True / --force to replace it)')


@contextlib.contextmanager
def atomic_output_dir(out_dir: str, force: bool = False) -> Iterator[str]:
    """Build a folder in a temporary sibling, then rename it to ``out_dir``.

    Usage: ``with atomic_output_dir(out) as tmp: write files under tmp``.
    If the body raises, the temporary folder is removed and ``out_dir`` is
    left as it was. On success the new folder replaces ``out_dir``: an
    absent or empty ``out_dir`` is taken over by one rename; a non-empty one
    (only with ``force``) is first moved aside, then deleted once the new
    folder is in place, and moved back if that rename fails.

    Args:
        out_dir (str): Final folder; its parent is created if missing.
        force (bool): Replace a non-empty ``out_dir``. Defaults to False.

    Yields:
        str: the temporary folder to write into.
    """
    out_dir = osp.abspath(out_dir)
    _check_out_dir(out_dir, force)
    parent, base = osp.split(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{base}.tmp-', dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private (0o700)
    try:
        yield tmp
        _check_out_dir(out_dir, force)  # it may have appeared meanwhile
        if osp.isdir(out_dir) and os.listdir(out_dir):
            aside = tempfile.mkdtemp(prefix=f'.{base}.old-', dir=parent)
            os.rename(out_dir, osp.join(aside, base))
            try:
                os.rename(tmp, out_dir)
            except BaseException:
                os.rename(osp.join(aside, base), out_dir)
                os.rmdir(aside)
                raise
            shutil.rmtree(aside)
        else:
            # rename() replaces an empty directory atomically on POSIX
            os.rename(tmp, out_dir)
    finally:
        if osp.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------


def _save_image(array: np.ndarray, path: str) -> None:
    Image.fromarray(array).save(path, format='JPEG', quality=JPEG_QUALITY)


def _save_png(array: np.ndarray, path: str) -> None:
    Image.fromarray(array).save(path, format='PNG')


def _write_ade20k(root: str, counts: Dict[str, int], img_size: Tuple[int, int],
                  seed: int) -> None:
    folder = dict(train='training', val='validation')
    for split, num in counts.items():
        img_dir = osp.join(root, 'images', folder[split])
        ann_dir = osp.join(root, 'annotations', folder[split])
        os.makedirs(img_dir)
        os.makedirs(ann_dir)
        for i in range(num):
            scene = toy_scene(seed, split, i, img_size)
            stem = f'ADE_{split}_{i + 1:08d}'
            _save_image(scene.image, osp.join(img_dir, stem + '.jpg'))
            _save_png(scene.seg_map, osp.join(ann_dir, stem + '.png'))


#: First image id of each COCO split (ids are unique across splits, as in
#: real COCO).
COCO_FIRST_IMAGE_ID = dict(train=1, val=1_000_001)


def _write_coco(root: str, counts: Dict[str, int], img_size: Tuple[int, int],
                seed: int) -> None:
    ann_dir = osp.join(root, 'annotations')
    os.makedirs(ann_dir)
    categories = [
        dict(id=i + 1, name=name, supercategory='toy')
        for i, name in enumerate(THING_CLASSES)
    ]
    for split, num in counts.items():
        img_dir = osp.join(root, f'{split}2017')
        os.makedirs(img_dir)
        images, annotations = [], []
        for i in range(num):
            scene = toy_scene(seed, split, i, img_size)
            image_id = COCO_FIRST_IMAGE_ID[split] + i
            file_name = f'{image_id:012d}.jpg'
            _save_image(scene.image, osp.join(img_dir, file_name))
            images.append(
                dict(
                    id=image_id,
                    file_name=file_name,
                    height=img_size[0],
                    width=img_size[1]))
            annotations += coco_annotations(scene, image_id,
                                            len(annotations) + 1)
        content = dict(
            info=dict(
                description=f'mmrevcol toy COCO ({split}, seed {seed})',
                version='1.0'),
            licenses=[],
            images=images,
            annotations=annotations,
            categories=categories)
        with open(osp.join(ann_dir, f'instances_{split}2017.json'), 'w') as f:
            json.dump(content, f, separators=(',', ':'))


def imagenet_folder(name: str) -> str:
    """Sub-folder name of an ImageNet class (spaces become underscores)."""
    return name.strip().replace(' ', '_')


def _write_imagenet(root: str, counts: Dict[str, int],
                    img_size: Tuple[int, int], seed: int) -> None:
    os.makedirs(osp.join(root, 'meta'))
    for split, num in counts.items():
        for name in IMAGENET_CLASSES:
            os.makedirs(osp.join(root, split, imagenet_folder(name)))
        lines = []
        for i in range(num):
            scene, label = toy_object_image(seed, split, i, img_size)
            folder = imagenet_folder(IMAGENET_CLASSES[label])
            stem = (f'{folder}_{i:06d}'
                    if split == 'train' else f'ILSVRC2012_val_{i + 1:08d}')
            rel = f'{folder}/{stem}.JPEG'
            _save_image(scene.image, osp.join(root, split, rel))
            lines.append(f'{rel} {label}\n')
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.writelines(lines)


_WRITERS = dict(
    ade20k=_write_ade20k, coco=_write_coco, imagenet=_write_imagenet)


def make_toy_data(kind: str,
                  out_dir: str,
                  num_train: Optional[int] = None,
                  num_val: Optional[int] = None,
                  img_size: Union[int, Sequence[int], None] = None,
                  seed: int = 0,
                  force: bool = False) -> str:
    """Write a toy dataset in the real layout of ADE20K, COCO or ImageNet.

    Layouts (``OUT`` = ``out_dir``):

    - ``ade20k``: ``OUT/images/{training,validation}/ADE_{train,val}_
      XXXXXXXX.jpg`` and ``OUT/annotations/{training,validation}/*.png``
      (uint8, 0 = unlabeled, ``v`` = ``CLASSES[v - 1]``). Load with
      ``mmseg.datasets.ADE20KDataset(data_root=OUT, data_prefix=dict(
      img_path='images/validation', seg_map_path='annotations/validation'),
      metainfo=ade_metainfo())``.
    - ``coco``: ``OUT/{train,val}2017/XXXXXXXXXXXX.jpg`` and
      ``OUT/annotations/instances_{train,val}2017.json`` (categories
      :data:`THING_CLASSES` with ids 1..4, polygon or RLE masks). Load with
      ``mmdet.datasets.CocoDataset(data_root=OUT,
      ann_file='annotations/instances_val2017.json',
      data_prefix=dict(img='val2017/'), metainfo=coco_metainfo())``.
    - ``imagenet``: ``OUT/{train,val}/<class>/*.JPEG`` (one object per
      image) and ``OUT/meta/{train,val}.txt`` with lines
      ``<class>/<file>.JPEG <label>`` relative to ``OUT/<split>``. Load with
      the stock ``mmpretrain.datasets.ImageNet(data_root=OUT,
      split='val', metainfo=imagenet_metainfo())`` (mmpretrain 1.2.0 picks
      ``data_prefix='val'`` and ``ann_file='meta/val.txt'`` from ``split``;
      equivalently ``data_prefix='val', ann_file='meta/val.txt'``).
      ``ImageNet`` keeps a custom ``classes`` list as given, so it is used
      rather than ``CustomDataset``; ``CustomDataset`` scanning the class
      folders (no ``ann_file``) yields the same labels.

    Args:
        kind (str): One of :data:`KINDS`.
        out_dir (str): Output folder. Must be absent or empty unless
            ``force``; built in a temporary sibling and renamed into place.
        num_train (int, optional): Training images (> 0; for ``imagenet`` at
            least one per class). Defaults to :data:`DEFAULTS` of the kind.
        num_val (int, optional): Validation images, same rules.
        img_size (int | Sequence[int], optional): ``S`` or ``(H, W)``, each
            >= 32. Defaults to :data:`DEFAULTS` of the kind.
        seed (int): Non-negative seed; same seed, same files. Defaults to 0.
        force (bool): Replace a non-empty ``out_dir``. Defaults to False.

    Returns:
        str: the absolute path of the written dataset.
    """
    if kind not in KINDS:
        raise ValueError(f'kind must be one of {KINDS}, got {kind!r}')
    defaults = DEFAULTS[kind]
    num_train = _check_positive_int(
        'num_train', defaults['num_train'] if num_train is None else num_train)
    num_val = _check_positive_int(
        'num_val', defaults['num_val'] if num_val is None else num_val)
    if kind == 'imagenet':
        for name, num in (('num_train', num_train), ('num_val', num_val)):
            if num < len(IMAGENET_CLASSES):
                raise ValueError(
                    f'{name} must be >= {len(IMAGENET_CLASSES)} (one image '
                    f'per class) for kind=\'imagenet\', got {num}')
    img_size = normalize_img_size(defaults['img_size'] if img_size is
                                  None else img_size)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f'seed must be an int, got {seed!r}')
    if seed < 0:
        raise ValueError(f'seed must be >= 0, got {seed}')
    if not isinstance(out_dir, (str, os.PathLike)) or not str(out_dir):
        raise ValueError(f'out_dir must be a non-empty path, got {out_dir!r}')
    out_dir = osp.abspath(os.fspath(out_dir))

    with atomic_output_dir(out_dir, force=force) as tmp:
        _WRITERS[kind](tmp, dict(train=num_train, val=num_val), img_size,
                       int(seed))
    return out_dir
