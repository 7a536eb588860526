"""Tests of the toy dataset generator (mmrevcol.datasets.toy) and its CLI."""
import hashlib
import importlib.util
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from mmrevcol.datasets import toy
from mmrevcol.datasets.toy import (CLASSES, IMAGENET_CLASSES, PALETTE,
                                   STUFF_CLASSES, THING_CLASSES, ade_metainfo,
                                   coco_metainfo, imagenet_metainfo,
                                   make_toy_data, mask_to_segmentation,
                                   render_scene, toy_object_image, toy_scene)
from tests.helpers import ROOT

REPO = ROOT
CLI = osp.join(REPO, 'tools', 'dataset_converters', 'make_toy_data.py')

# Tiny datasets shared by the loading tests.
ADE = dict(num_train=3, num_val=4, img_size=64, seed=0)
COCO = dict(num_train=3, num_val=6, img_size=(64, 80), seed=0)
IMNET = dict(num_train=4, num_val=6, img_size=48, seed=0)


def _hashes(root):
    """{relative path: sha256} of every file under ``root``."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = osp.join(dirpath, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path,
                                root)] = hashlib.sha256(f.read()).hexdigest()
    return out


@pytest.fixture(scope='module')
def written(tmp_path_factory):
    base = tmp_path_factory.mktemp('toy')
    return dict(
        ade20k=make_toy_data('ade20k', str(base / 'ade'), **ADE),
        coco=make_toy_data('coco', str(base / 'coco'), **COCO),
        imagenet=make_toy_data('imagenet', str(base / 'imnet'), **IMNET))


@pytest.fixture(scope='module')
def cli():
    spec = importlib.util.spec_from_file_location('make_toy_data', CLI)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------
# class constants and the procedural core
# ---------------------------------------------------------------------------


def test_classes_are_the_ade20k_prefix():
    from mmseg.datasets import ADE20KDataset
    ade = ADE20KDataset.METAINFO
    assert CLASSES == tuple(ade['classes'][:len(CLASSES)])
    assert [list(p) for p in PALETTE] == ade['palette'][:len(CLASSES)]
    assert set(STUFF_CLASSES) | set(THING_CLASSES) == set(CLASSES)
    assert not set(STUFF_CLASSES) & set(THING_CLASSES)
    assert THING_CLASSES == tuple(c for c in CLASSES if c in THING_CLASSES)
    assert IMAGENET_CLASSES == ('bed', 'building', 'tree', 'windowpane')
    assert ade_metainfo()['classes'] == CLASSES
    assert coco_metainfo()['classes'] == THING_CLASSES
    assert len(coco_metainfo()['palette']) == len(THING_CLASSES)
    assert imagenet_metainfo() == dict(classes=IMAGENET_CLASSES)


def test_render_scene_contract():
    seen = set()
    for index in range(24):
        scene = toy_scene(3, 'train', index, (72, 56))
        assert scene.image.shape == (72, 56, 3)
        assert scene.image.dtype == np.uint8
        assert scene.seg_map.shape == (72, 56)
        assert scene.seg_map.dtype == np.uint8
        n = len(scene.labels)
        assert 1 <= n <= 5
        assert scene.masks.shape == (n, 72, 56)
        assert scene.masks.dtype == bool
        # instances never overlap and keep a gap of background between them
        assert scene.masks.sum(0).max() == 1
        values = set(np.unique(scene.seg_map).tolist())
        assert values <= set(range(len(CLASSES) + 1))
        assert 0 in values
        zero = (scene.seg_map == 0).mean()
        assert 0.005 < zero < 0.2, zero
        for mask, label in zip(scene.masks, scene.labels):
            assert CLASSES[label] in THING_CLASSES
            # every instance pixel carries the class; the unlabeled outline
            # lies outside the mask
            assert (scene.seg_map[mask] == label + 1).all()
            outline = cv2.dilate(
                mask.astype(np.uint8), np.ones(
                    (3, 3), np.uint8)).astype(bool) & ~mask
            assert (scene.seg_map[outline] == 0).all()
        # outside the instances only stuff classes (or unlabeled) remain
        outside = scene.seg_map[~scene.masks.any(0)]
        assert {CLASSES[v - 1]
                for v in np.unique(outside) if v} <= set(STUFF_CLASSES)
        seen |= {CLASSES[v - 1] for v in np.unique(scene.seg_map) if v}
    assert seen == set(CLASSES)


def test_render_scene_is_pure_function_of_rng():
    a = render_scene(np.random.default_rng(7), (64, 64))
    b = render_scene(np.random.default_rng(7), (64, 64))
    c = render_scene(np.random.default_rng(8), (64, 64))
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.seg_map, b.seg_map)
    assert np.array_equal(a.masks, b.masks)
    assert not np.array_equal(a.image, c.image)


def test_single_object_images():
    for index in range(8):
        scene, label = toy_object_image(0, 'val', index, (48, 48))
        assert label == index % len(IMAGENET_CLASSES)
        assert len(scene.labels) == 1
        assert CLASSES[scene.labels[0]].strip() == IMAGENET_CLASSES[label]
        # the object is large: its box side is >= 0.45 of the image side
        # (a rotated ellipse's box is >= 0.9 of its long axis)
        ys, xs = np.nonzero(scene.masks[0])
        extent = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
        assert extent >= 0.4 * 48
        assert scene.masks[0].mean() > 0.05


def test_render_scene_rejects_unknown_thing():
    with pytest.raises(ValueError, match=r"thing must be one of .*'sky'"):
        render_scene(np.random.default_rng(0), (64, 64), thing='sky')


def test_mask_to_segmentation_polygon_and_rle():
    from pycocotools import mask as mask_util
    square = np.zeros((40, 50), bool)
    square[5:25, 10:40] = True
    polygons = mask_to_segmentation(square)
    assert isinstance(polygons, list) and len(polygons) == 1
    drawn = mask_util.decode(
        mask_util.merge(mask_util.frPyObjects(polygons, 40, 50))) > 0
    assert np.array_equal(drawn, square)
    # polygon edges follow pixel edges: the square's corners
    xs, ys = polygons[0][0::2], polygons[0][1::2]
    assert (min(xs), max(xs), min(ys), max(ys)) == (10, 40, 5, 25)
    # one pixel, a one-pixel line with a spike, and two components
    odd = np.zeros((12, 12), bool)
    odd[1, 1] = True
    odd[5, 2:9] = True
    odd[3:5, 5] = True
    odd[8:11, 9] = True
    polygons = mask_to_segmentation(odd)
    assert isinstance(polygons, list) and len(polygons) == 3
    drawn = mask_util.decode(
        mask_util.merge(mask_util.frPyObjects(polygons, 12, 12))) > 0
    assert np.array_equal(drawn, odd)
    ring = np.zeros((40, 40), bool)
    yy, xx = np.mgrid[:40, :40]
    d2 = (yy - 20)**2 + (xx - 20)**2
    ring[(d2 <= 15**2) & (d2 >= 8**2)] = True
    rle = mask_to_segmentation(ring)
    assert isinstance(rle, dict) and isinstance(rle['counts'], str)
    assert rle['size'] == [40, 40]
    assert np.array_equal(mask_util.decode(rle) > 0, ring)
    with pytest.raises(ValueError, match='at least one foreground pixel'):
        mask_to_segmentation(np.zeros((8, 8), bool))
    with pytest.raises(ValueError, match=r'2-D array .*shape \(2, 8, 8\)'):
        mask_to_segmentation(np.ones((2, 8, 8), bool))


# ---------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('kind,cfg', [('ade20k', ADE), ('coco', COCO),
                                      ('imagenet', IMNET)])
def test_same_seed_same_bytes_other_seed_differs(tmp_path, written, kind, cfg):
    again = make_toy_data(kind, str(tmp_path / 'again'), **cfg)
    other = make_toy_data(kind, str(tmp_path / 'other'), **dict(cfg, seed=1))
    first = _hashes(written[kind])
    assert len(first) >= cfg['num_train'] + cfg['num_val']
    assert _hashes(again) == first
    second = _hashes(other)
    assert sorted(second) == sorted(first)
    images = [p for p in first if p.lower().endswith(('.jpg', '.jpeg'))]
    assert images
    for path in images:
        assert second.get(path) != first[path], path


def test_val_images_do_not_depend_on_num_train(tmp_path, written):
    other = make_toy_data('ade20k', str(tmp_path / 'ade'),
                          **dict(ADE, num_train=1))
    first, second = _hashes(written['ade20k']), _hashes(other)
    val = [p for p in first if 'validation' in p]
    assert len(val) == 2 * ADE['num_val']
    assert all(first[p] == second[p] for p in val)


# ---------------------------------------------------------------------------
# ADE20K
# ---------------------------------------------------------------------------


def test_ade20k_layout_and_label_values(written):
    root = written['ade20k']
    assert sorted(os.listdir(root)) == ['annotations', 'images']
    for folder, split, num in (('training', 'train', ADE['num_train']),
                               ('validation', 'val', ADE['num_val'])):
        names = [f'ADE_{split}_{i:08d}' for i in range(1, num + 1)]
        assert sorted(os.listdir(osp.join(
            root, 'images', folder))) == [n + '.jpg' for n in names]
        assert sorted(os.listdir(osp.join(
            root, 'annotations', folder))) == [n + '.png' for n in names]
        for i, name in enumerate(names):
            img = Image.open(osp.join(root, 'images', folder, name + '.jpg'))
            assert img.format == 'JPEG' and img.mode == 'RGB'
            assert img.size == (64, 64)
            png = Image.open(
                osp.join(root, 'annotations', folder, name + '.png'))
            assert png.mode == 'L'
            seg = np.asarray(png)
            assert seg.min() >= 0 and seg.max() <= len(CLASSES)
            assert (seg == 0).any()
            assert (seg > 0).mean() > 0.8
            # the PNG is lossless: exactly the generator's label map
            scene = toy_scene(ADE['seed'], split, i, (64, 64))
            assert np.array_equal(seg, scene.seg_map)


def test_ade20k_loads_with_stock_dataset(written):
    from mmcv.transforms import LoadImageFromFile
    from mmseg.datasets import ADE20KDataset
    from mmseg.datasets.transforms import LoadAnnotations, PackSegInputs

    root = written['ade20k']
    for folder, num in (('validation', ADE['num_val']), ('training',
                                                         ADE['num_train'])):
        dataset = ADE20KDataset(
            data_root=root,
            data_prefix=dict(
                img_path=f'images/{folder}',
                seg_map_path=f'annotations/{folder}'),
            metainfo=ade_metainfo(),
            pipeline=[LoadImageFromFile(),
                      LoadAnnotations(),
                      PackSegInputs()])
        assert len(dataset) == num
        assert dataset.metainfo['classes'] == CLASSES
        assert dataset.metainfo['reduce_zero_label'] is True
        assert [list(p) for p in dataset.metainfo['palette']
                ] == [list(p) for p in PALETTE]
        # the label map is the identity on every value the PNGs contain
        label_map = dataset.metainfo['label_map']
        assert all(label_map[i] == i for i in range(len(CLASSES)))
        for i in range(num):
            sample = dataset[i]
            assert tuple(sample['inputs'].shape) == (3, 64, 64)
            gt = sample['data_samples'].gt_sem_seg.data
            assert tuple(gt.shape) == (1, 64, 64)
            png = np.asarray(Image.open(
                sample['data_samples'].seg_map_path)).astype(np.int64)
            expect = np.where(png == 0, 255, png - 1)
            assert np.array_equal(gt[0].numpy(), expect)
            assert set(np.unique(expect)) <= set(range(len(CLASSES))) | {255}


# ---------------------------------------------------------------------------
# COCO
# ---------------------------------------------------------------------------


def test_coco_layout_and_json_fields(written):
    root = written['coco']
    assert sorted(os.listdir(root)) == ['annotations', 'train2017', 'val2017']
    kinds = set()
    for split in ('train', 'val'):
        with open(
                osp.join(root, 'annotations',
                         f'instances_{split}2017.json')) as f:
            content = json.load(f)
        assert content['categories'] == [
            dict(id=i + 1, name=n, supercategory='toy')
            for i, n in enumerate(THING_CLASSES)
        ]
        num = COCO[f'num_{split}']
        assert len(content['images']) == num
        files = sorted(os.listdir(osp.join(root, f'{split}2017')))
        assert files == sorted(im['file_name'] for im in content['images'])
        ids = {im['id'] for im in content['images']}
        assert len(ids) == num
        for im in content['images']:
            assert (im['height'], im['width']) == (64, 80)
            assert im['file_name'] == f'{im["id"]:012d}.jpg'
            with Image.open(osp.join(root, f'{split}2017',
                                     im['file_name'])) as img:
                assert img.size == (80, 64)
        anns = content['annotations']
        assert len({a['id'] for a in anns}) == len(anns)
        for ann in anns:
            assert ann['image_id'] in ids
            assert 1 <= ann['category_id'] <= len(THING_CLASSES)
            assert ann['iscrowd'] == 0
            x, y, w, h = ann['bbox']
            assert x >= 0 and y >= 0 and w > 0 and h > 0
            assert x + w <= 80 and y + h <= 64
            assert 0 < ann['area'] <= w * h
            seg = ann['segmentation']
            if isinstance(seg, list):
                kinds.add('polygon')
                assert all(len(p) >= 6 and len(p) % 2 == 0 for p in seg)
            else:
                kinds.add('rle')
                assert seg['size'] == [64, 80]
                assert isinstance(seg['counts'], str)
    assert kinds == {'polygon', 'rle'}


def test_coco_segmentation_matches_drawn_masks(written):
    from pycocotools.coco import COCO as COCOApi
    coco = COCOApi(
        osp.join(written['coco'], 'annotations', 'instances_val2017.json'))
    for index in range(COCO['num_val']):
        image_id = toy.COCO_FIRST_IMAGE_ID['val'] + index
        scene = toy_scene(COCO['seed'], 'val', index, (64, 80))
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
        assert len(anns) == len(scene.labels)
        for ann, mask, label in zip(anns, scene.masks, scene.labels):
            assert THING_CLASSES[ann['category_id'] - 1] == CLASSES[label]
            # polygon or RLE, the annotation decodes to the drawn mask
            assert np.array_equal(coco.annToMask(ann) > 0, mask)


def _coco_map(dataset, ann_file, predictions):
    from mmdet.evaluation import CocoMetric
    metric = CocoMetric(ann_file=ann_file, metric=['bbox', 'segm'])
    metric.dataset_meta = dataset.metainfo
    for sample, (bboxes, labels, masks) in zip(dataset, predictions):
        ds = sample['data_samples']
        metric.process({}, [
            dict(
                img_id=ds.img_id,
                ori_shape=ds.ori_shape,
                pred_instances=dict(
                    bboxes=bboxes,
                    scores=torch.ones(len(labels)),
                    labels=labels,
                    masks=masks))
        ])
    return metric.evaluate(size=len(dataset))


def test_coco_loads_and_ground_truth_scores_one(written):
    from mmcv.transforms import LoadImageFromFile
    from mmdet.datasets import CocoDataset
    from mmdet.datasets.transforms import LoadAnnotations, PackDetInputs

    root = written['coco']
    ann_file = osp.join(root, 'annotations', 'instances_val2017.json')
    dataset = CocoDataset(
        data_root=root,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        metainfo=coco_metainfo(),
        test_mode=True,
        pipeline=[
            LoadImageFromFile(),
            LoadAnnotations(with_bbox=True, with_mask=True),
            PackDetInputs(
                meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape'))
        ])
    assert len(dataset) == COCO['num_val']
    assert dataset.metainfo['classes'] == THING_CLASSES

    loaded, drawn = [], []
    for index, sample in enumerate(dataset):
        assert tuple(sample['inputs'].shape) == (3, 64, 80)
        gt = sample['data_samples'].gt_instances
        scene = toy_scene(COCO['seed'], 'val', index, (64, 80))
        n = len(scene.labels)
        assert tuple(gt.bboxes.tensor.shape) == (n, 4)
        assert tuple(gt.masks.masks.shape) == (n, 64, 80)
        expect = [THING_CLASSES.index(CLASSES[c]) for c in scene.labels]
        assert gt.labels.tolist() == expect
        ys, xs = np.nonzero(scene.masks[0])
        assert gt.bboxes.tensor[0].tolist() == [
            xs.min(), ys.min(), xs.max() + 1,
            ys.max() + 1
        ]
        loaded.append((gt.bboxes.tensor, gt.labels,
                       torch.from_numpy(gt.masks.masks.astype(bool))))
        drawn.append((gt.bboxes.tensor, torch.tensor(expect),
                      torch.from_numpy(scene.masks)))

    # ground truth as loaded by the stock pipeline scores a perfect 1.0
    result = _coco_map(dataset, ann_file, loaded)
    assert result['coco/bbox_mAP'] > 0.99
    assert result['coco/segm_mAP'] > 0.99
    # so do the generator's own masks (the annotations are lossless)
    result = _coco_map(dataset, ann_file, drawn)
    assert result['coco/bbox_mAP'] > 0.99
    assert result['coco/segm_mAP'] > 0.99
    # and the metric does look at the classes: shifted labels score ~0
    wrong = [(b, (lab + 1) % len(THING_CLASSES), m) for b, lab, m in drawn]
    result = _coco_map(dataset, ann_file, wrong)
    assert result['coco/bbox_mAP'] < 0.2
    assert result['coco/segm_mAP'] < 0.2

    train = CocoDataset(
        data_root=root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        metainfo=coco_metainfo(),
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=[])
    assert len(train) == COCO['num_train']


# ---------------------------------------------------------------------------
# ImageNet
# ---------------------------------------------------------------------------


def _meta(root, split):
    with open(osp.join(root, 'meta', f'{split}.txt')) as f:
        return [line.split() for line in f.read().splitlines()]


def test_imagenet_layout(written):
    root = written['imagenet']
    assert sorted(os.listdir(root)) == ['meta', 'train', 'val']
    for split in ('train', 'val'):
        assert sorted(os.listdir(osp.join(root,
                                          split))) == list(IMAGENET_CLASSES)
        lines = _meta(root, split)
        assert len(lines) == IMNET[f'num_{split}']
        for i, (rel, label) in enumerate(lines):
            label = int(label)
            assert label == i % len(IMAGENET_CLASSES)
            folder, name = rel.split('/')
            assert folder == IMAGENET_CLASSES[label]
            assert name.endswith('.JPEG')
            with Image.open(osp.join(root, split, rel)) as img:
                assert img.format == 'JPEG' and img.size == (48, 48)


def test_imagenet_loads_with_stock_dataset(written):
    from mmcv.transforms import LoadImageFromFile
    from mmpretrain.datasets import CustomDataset, ImageNet
    from mmpretrain.datasets.transforms import PackInputs

    root = written['imagenet']
    for split in ('train', 'val'):
        lines = _meta(root, split)
        dataset = ImageNet(
            data_root=root,
            data_prefix=split,
            ann_file=f'meta/{split}.txt',
            metainfo=imagenet_metainfo(),
            pipeline=[LoadImageFromFile(), PackInputs()])
        assert len(dataset) == len(lines)
        assert dataset.CLASSES == IMAGENET_CLASSES
        # mmpretrain 1.2.0 finds data_prefix and meta/<split>.txt itself
        by_split = ImageNet(
            data_root=root, split=split, metainfo=imagenet_metainfo())
        assert by_split.ann_file == osp.join(root, 'meta', f'{split}.txt')
        assert [d['img_path'] for d in by_split.load_data_list()
                ] == [d['img_path'] for d in dataset.load_data_list()]
        for i, (rel, label) in enumerate(lines):
            sample = dataset[i]
            assert tuple(sample['inputs'].shape) == (3, 48, 48)
            assert sample['data_samples'].gt_label.tolist() == [int(label)]
            assert sample['data_samples'].img_path == osp.join(
                root, split, rel)
        # scanning the class folders gives the same label to every image
        scanned = CustomDataset(
            data_root=root, data_prefix=split, metainfo=imagenet_metainfo())
        pairs = {(osp.relpath(d['img_path'],
                              osp.join(root, split)), int(d['gt_label']))
                 for d in (scanned.get_data_info(i)
                           for i in range(len(scanned)))}
        assert pairs == {(rel, int(label)) for rel, label in lines}


# ---------------------------------------------------------------------------
# argument checks, overwrite refusal, atomicity
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('kwargs,error,message', [
    (dict(kind='voc'), ValueError, r"kind must be one of .*'voc'"),
    (dict(num_train=0), ValueError, r'num_train must be a positive .*got 0'),
    (dict(num_val=-2), ValueError, r'num_val must be a positive .*got -2'),
    (dict(num_train=1.5), TypeError, r'num_train must be an int, got 1.5'),
    (dict(num_val=True), TypeError, r'num_val must be an int, got True'),
    (dict(img_size=31), ValueError, r'img_size must be >= 32 .*got 31'),
    (dict(img_size=(64, 16)), ValueError, r'img_size .*got \(64, 16\)'),
    (dict(img_size=(64, )), TypeError, r'img_size must be an int S or a pair'),
    (dict(seed=-1), ValueError, r'seed must be >= 0, got -1'),
    (dict(kind='imagenet', num_train=4, num_val=3), ValueError,
     r"num_val must be >= 4 .*kind='imagenet', got 3"),
])
def test_bad_arguments(tmp_path, kwargs, error, message):
    args = dict(kind='ade20k', num_train=2, num_val=2, img_size=32)
    args.update(kwargs)
    kind = args.pop('kind')
    with pytest.raises(error, match=message):
        make_toy_data(kind, str(tmp_path / 'out'), **args)
    assert os.listdir(tmp_path) == []


def test_refuses_non_empty_out_dir_and_force_replaces(tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'keep.txt').write_text('mine')
    with pytest.raises(FileExistsError, match=r'not empty.*force'):
        make_toy_data('ade20k', str(out), num_train=1, num_val=1, img_size=32)
    assert os.listdir(out) == ['keep.txt']
    make_toy_data(
        'ade20k', str(out), num_train=1, num_val=1, img_size=32, force=True)
    assert sorted(os.listdir(out)) == ['annotations', 'images']
    assert os.listdir(tmp_path) == ['out']
    # an existing empty folder is used without force
    empty = tmp_path / 'empty'
    empty.mkdir()
    make_toy_data('coco', str(empty), num_train=1, num_val=1, img_size=32)
    assert sorted(os.listdir(empty)) == ['annotations', 'train2017', 'val2017']
    # a file in the way is never replaced
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    with pytest.raises(NotADirectoryError, match='not a directory'):
        make_toy_data(
            'coco',
            str(blocker),
            num_train=1,
            num_val=1,
            img_size=32,
            force=True)
    assert blocker.read_text() == 'x'
    assert sorted(os.listdir(tmp_path)) == ['empty', 'file', 'out']


def test_failure_leaves_no_trace(tmp_path, monkeypatch):
    calls = []
    original = toy._save_png

    def failing_save_png(array, path):
        calls.append(path)
        if len(calls) == 2:
            raise RuntimeError('disk full (provoked)')
        original(array, path)

    monkeypatch.setattr(toy, '_save_png', failing_save_png)
    out = tmp_path / 'out'
    with pytest.raises(RuntimeError, match='provoked'):
        make_toy_data('ade20k', str(out), num_train=3, num_val=1, img_size=32)
    assert len(calls) == 2
    assert os.listdir(tmp_path) == []

    # with force, a failed rebuild keeps the old content untouched
    out.mkdir()
    (out / 'keep.txt').write_text('mine')
    calls.clear()
    with pytest.raises(RuntimeError, match='provoked'):
        make_toy_data(
            'ade20k',
            str(out),
            num_train=3,
            num_val=1,
            img_size=32,
            force=True)
    assert os.listdir(tmp_path) == ['out']
    assert os.listdir(out) == ['keep.txt']
    assert (out / 'keep.txt').read_text() == 'mine'


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------


def test_cli_writes_dataset(tmp_path, cli, capsys):
    out = str(tmp_path / 'ade')
    assert cli.main([
        'ade20k', out, '--num-train', '2', '--num-val', '1', '--img-size',
        '48', '40', '--seed', '5'
    ]) == out
    assert 'wrote toy ade20k dataset (seed 5)' in capsys.readouterr().out
    img = Image.open(
        osp.join(out, 'images', 'training', 'ADE_train_00000002.jpg'))
    assert img.size == (40, 48)
    reference = make_toy_data(
        'ade20k',
        str(tmp_path / 'ref'),
        num_train=2,
        num_val=1,
        img_size=(48, 40),
        seed=5)
    assert _hashes(out) == _hashes(reference)


@pytest.mark.parametrize('argv,message', [
    (['cityscapes'], "argument kind: invalid choice: 'cityscapes'"),
    (['ade20k', '--num-train', '0'], 'num_train must be a positive'),
    (['coco', '--num-val', '-3'], 'num_val must be a positive integer (> 0),'
     ' got -3'),
    (['ade20k', '--img-size', '16'], 'img_size must be >= 32'),
    (['ade20k', '--img-size', '64', '64', '3'
      ], '--img-size takes 1 value (S) or 2 values (H W), got 3'),
    (['ade20k', '--seed', '-1'], 'seed must be >= 0, got -1'),
    (['imagenet', '--num-train', '2'], 'num_train must be >= 4'),
])
def test_cli_rejects_bad_arguments(tmp_path, cli, capsys, argv, message):
    out = str(tmp_path / 'out')
    argv = argv[:1] + [out] + argv[1:]
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_cli_refuses_overwrite_without_force(tmp_path, cli, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'keep.txt').write_text('mine')
    argv = [
        'coco',
        str(out), '--num-train', '1', '--num-val', '1', '--img-size', '32'
    ]
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert 'exists and is not empty' in err and '--force' in err
    assert os.listdir(out) == ['keep.txt']
    cli.main(argv + ['--force'])
    assert sorted(os.listdir(out)) == ['annotations', 'train2017', 'val2017']
    assert os.listdir(tmp_path) == ['out']
