"""The model index: OpenMMLab metafiles, measured complexity, README table.

Repository maintenance (not part of the package)::

    python .dev_scripts/model_index.py --update-metafile [--configs C ...] \
        [--no-flops]
    python .dev_scripts/model_index.py --update-readme
    python .dev_scripts/model_index.py --check [--no-params]

``model-index.yml`` (repository root) imports one metafile per backbone
family (``configs/revcol/metafile.yml``, ``configs/revcolv2/metafile.yml``)
in the OpenMMLab / ``model-index`` format::

    Collections:
      - Name: RevColV2
        Metadata: {Architecture: [...]}
        Paper: {Title: ..., URL: ...}
        README: README.md
    Models:
      - Name: revcolv2-b_mask2former_8xb2-160k_ade20k-640x640  # config stem
        In Collection: RevColV2
        Config: configs/revcolv2/revcolv2-b_mask2former_8xb2-160k_ade20k-640x640.py
        Metadata:
          Training Data: [ImageNet-1k, ImageNet-21k, ADE20K]
          Parameters: 341195543                  # measured
          FLOPs: ...                             # measured
          FLOPs Input: [640, 2560]               # (H, W) it was measured at
          Paper Parameters: 325M                 # as printed in the paper
          Paper Source: RevColV2 (arXiv 2309.01005) Table 3
        Results:                                 # from the paper
          - Task: Semantic Segmentation
            Dataset: ADE20K
            Metrics: {mIoU: 54.9, mIoU(ms+flip): 55.8}

What is written by hand and what is measured:

- ``Results``, ``Training Data``, ``Paper Source`` and the ``Paper *``
  numbers come from the papers and are edited by hand in the metafiles.
  ``Paper Source`` starting with ``none`` marks a config without a paper
  result (``Results: []``), and says why.
- ``Parameters``, ``FLOPs`` and ``FLOPs Input`` are measured by
  :func:`measure_config` (mmengine's ``FlopAnalyzer``, the counter behind
  ``mmengine.analysis.get_model_complexity_info``; one multiply-add is one
  FLOP) and written by :func:`update_metafiles`, never typed.

FLOPs are measured for one image at a size fixed per task, the conventions of
the papers' tables: classification at the test crop (224, RevColV2, arXiv
2309.01005, Table 2), semantic segmentation at ``crop x 4*crop`` (2048x512 for
512 crops, 2560x640 for 640 crops, RevCol, arXiv 2212.11696, Table 3),
detection at 800x1280 (RevCol Table 2). Segmentors run ``encode_decode``
(backbone, head and the head's own resizing) on the whole image, classifiers
their ``tensor`` mode, two-stage detectors their RPN and RoI heads on 1000
fixed proposals with the mask heads on 100 of them
(:data:`DETECTION_PROPOSALS`), other detectors their ``tensor`` mode.

The README model table is :func:`render_table` of the metafiles, written
between the lines :data:`TABLE_START` and :data:`TABLE_END` by
:func:`update_readme`. :func:`check` lists every way in which the index
drifted from the configs (a config not listed, an entry without a config,
a missing paper result, recorded parameters that differ from a fresh count,
a FLOPs input that no longer matches the config, a stale README table).
"""
import fnmatch
import gc
import glob
import os
import os.path as osp
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import yaml

import argparse
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # a checkout that is not installed
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))

from mmrevcol.apis import build_model, count_parameters, load_config  # noqa: E402,E501


#: The model index file, relative to the root.
MODEL_INDEX = 'model-index.yml'

#: Folders of the indexed configs, relative to the root (one per family,
#: each with its README.md and metafile.yml; not ``_base_/``, ``toy/`` or the
#: deprecated top-level aliases).
CONFIG_DIRS = ('configs/revcol', 'configs/revcolv2')

#: Pre-training configs (no task result to index; their folder README lists
#: them): file-name patterns.
NOT_INDEXED = ('*_mim_*', '*_joint-*')

#: Marker lines around the generated table in README.md.
TABLE_START = '<!-- model-table:start -->'
TABLE_END = '<!-- model-table:end -->'

#: Backbone type -> (collection name, metafile relative to the root).
FAMILIES = {
    'RevCol': ('RevCol', 'configs/revcol/metafile.yml'),
    'RevColV2': ('RevColV2', 'configs/revcolv2/metafile.yml'),
}

#: Order of the keys of a model entry when it is written.
MODEL_KEYS = ('Name', 'In Collection', 'Config', 'Metadata', 'Results')

#: Order of the keys of a model's Metadata when it is written.
METADATA_KEYS = ('Training Data', 'Parameters', 'FLOPs', 'FLOPs Input',
                 'Paper Parameters', 'Paper FLOPs', 'Paper Source')

#: Measured Metadata keys (written by :func:`update_metafiles`).
MEASURED_KEYS = ('Parameters', 'FLOPs', 'FLOPs Input')

#: Detection FLOPs input (H, W): RevCol (arXiv 2212.11696) Table 2 measures
#: at (1280, 800).
DETECTION_FLOPS_HW = (800, 1280)

#: Two-stage detectors: RoI heads run on this many fixed proposals per image
#: and mask heads on the first :data:`DETECTION_MASK_ROIS` of them (the
#: ``forward_dummy`` convention of mmdet 2.x, which the FLOPs of the papers'
#: detection tables follow; the RPN's own proposals would make the count
#: depend on the random weights).
DETECTION_PROPOSALS = 1000
DETECTION_MASK_ROIS = 100

#: Default classification input side when the config has no CenterCrop.
CLASSIFICATION_SIDE = 224

#: Dataset class name -> dataset name used in ``Training Data``/``Results``.
DATASET_NAMES = {
    'ADE20KDataset': 'ADE20K',
    'CocoDataset': 'COCO',
    'ImageNet': 'ImageNet-1k',
    'ImageNet21k': 'ImageNet-21k',
}


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------


def list_configs(root: str = ROOT) -> List[str]:
    """Configs that must be indexed: ``*.py`` of :data:`CONFIG_DIRS` but
    the pre-training ones (:data:`NOT_INDEXED`).

    Args:
        root (str): Repository root. Defaults to :data:`ROOT`.

    Returns:
        list[str]: paths relative to ``root`` (``configs/revcolv2/x.py``),
        sorted.
    """
    paths = []
    for folder in CONFIG_DIRS:
        for p in glob.glob(osp.join(root, folder, '*.py')):
            name = osp.basename(p)
            if name.startswith('_') or any(
                    fnmatch.fnmatch(name, pat) for pat in NOT_INDEXED):
                continue
            paths.append(osp.relpath(p, root).replace(os.sep, '/'))
    return sorted(paths)


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder
    and ``os.replace``; the old file stays intact if anything fails."""
    from mmrevcol.utils.io import atomic_write
    atomic_write(path, lambda f: f.write(text), binary=False)


def _load_yaml(path: str) -> Any:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} does not exist')
    with open(path, encoding='utf-8') as f:
        try:
            return yaml.safe_load(f)
        except yaml.YAMLError as err:
            raise ValueError(f'{path} is not valid YAML: {err}') from None


def load_index(root: str = ROOT) -> Dict[str, dict]:
    """Load ``model-index.yml`` and the metafiles it imports.

    Args:
        root (str): Repository root. Defaults to :data:`ROOT`.

    Returns:
        dict: metafile path (relative to ``root``) -> its content, a dict with
        ``Collections`` and ``Models`` lists, in the order of the imports.
    """
    index = _load_yaml(osp.join(root, MODEL_INDEX))
    if not isinstance(index, dict) or not isinstance(
            index.get('Import'), list):
        raise ValueError(f'{osp.join(root, MODEL_INDEX)} must be a mapping '
                         f"with an 'Import' list of metafiles, got {index!r}")
    metafiles = {}
    for rel in index['Import']:
        content = _load_yaml(osp.join(root, rel))
        if not isinstance(content, dict):
            raise ValueError(f'{rel} must be a mapping with Collections and '
                             f'Models, got {type(content).__name__}')
        content.setdefault('Collections', [])
        content.setdefault('Models', [])
        for key in ('Collections', 'Models'):
            if not isinstance(content[key], list):
                raise ValueError(f'{rel}: {key} must be a list, got '
                                 f'{type(content[key]).__name__}')
        metafiles[rel] = content
    return metafiles


def all_models(metafiles: Dict[str, dict]) -> List[dict]:
    """The model entries of all metafiles, in order."""
    return [m for content in metafiles.values() for m in content['Models']]


def _ordered(entry: dict, keys: Sequence[str]) -> dict:
    out = {k: entry[k] for k in keys if k in entry}
    out.update({k: v for k, v in entry.items() if k not in out})
    return out


def dump_metafile(content: dict) -> str:
    """The YAML text of a metafile (keys in the OpenMMLab order)."""
    models = []
    for model in content['Models']:
        model = _ordered(model, MODEL_KEYS)
        if isinstance(model.get('Metadata'), dict):
            model['Metadata'] = _ordered(model['Metadata'], METADATA_KEYS)
        models.append(model)
    out = dict(content, Models=models)
    out = _ordered(out, ('Collections', 'Models'))
    return yaml.safe_dump(
        out, sort_keys=False, allow_unicode=True, width=79,
        default_flow_style=None)


# ---------------------------------------------------------------------------
# configs and models
# ---------------------------------------------------------------------------


def config_task(cfg) -> str:
    """``'classification'``, ``'segmentation'`` or ``'detection'``, from the
    config's ``default_scope`` (mmpretrain / mmseg / mmdet)."""
    scope = cfg.get('default_scope')
    tasks = dict(mmpretrain='classification', mmseg='segmentation',
                 mmdet='detection')
    if scope not in tasks:
        raise ValueError(f'cannot tell the task of config {cfg.filename}: '
                         f'default_scope is {scope!r}, expected one of '
                         f'{sorted(tasks)}')
    return tasks[scope]


def config_family(cfg) -> str:
    """The backbone type of a config, a key of :data:`FAMILIES`."""
    backbone = cfg.model.get('backbone', {}).get('type')
    if backbone not in FAMILIES:
        raise ValueError(f'config {cfg.filename} has backbone type '
                         f'{backbone!r}; the model index knows '
                         f'{sorted(FAMILIES)}')
    return backbone


def _find_transform(pipeline, name: str) -> Optional[dict]:
    for t in pipeline or []:
        if t.get('type') == name:
            return t
    return None


def _pair(value, what: str) -> Tuple[int, int]:
    if isinstance(value, int):
        return value, value
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return int(value[0]), int(value[1])
    raise ValueError(f'{what} must be an int or an (h, w) pair, got '
                     f'{value!r}')


def flops_input_hw(cfg) -> Tuple[int, int]:
    """The ``(H, W)`` a config's FLOPs are measured at (module docstring).

    Args:
        cfg (mmengine.Config): A loaded config.

    Returns:
        tuple[int, int]: the input height and width.
    """
    task = config_task(cfg)
    if task == 'detection':
        return DETECTION_FLOPS_HW
    if task == 'classification':
        pipeline = cfg.get('test_dataloader', {}).get('dataset', {}).get(
            'pipeline')
        crop = _find_transform(pipeline, 'CenterCrop')
        if crop is None:
            return CLASSIFICATION_SIDE, CLASSIFICATION_SIDE
        return _pair(crop['crop_size'], 'CenterCrop crop_size')
    size = cfg.model.get('data_preprocessor', {}).get('size')
    if size is None:
        size = cfg.get('crop_size')
    if size is None:
        raise ValueError(f'segmentation config {cfg.filename} sets neither '
                         'model.data_preprocessor.size nor crop_size')
    h, w = _pair(size, 'crop size')
    return h, 4 * w


class _TensorForward(nn.Module):
    """Wrap a task model so that ``forward(inputs)`` runs its inference path
    and returns tensors only (what the FLOP tracer needs)."""

    def __init__(self, model: nn.Module, task: str, hw: Tuple[int, int]):
        super().__init__()
        self.model = model
        self.task = task
        self.hw = tuple(hw)

    def _metainfo(self) -> dict:
        return dict(img_shape=self.hw, ori_shape=self.hw, pad_shape=self.hw,
                    batch_input_shape=self.hw, scale_factor=(1., 1.),
                    padding_size=[0, 0, 0, 0])

    def forward(self, inputs: torch.Tensor):
        if self.task == 'classification':
            return self.model(inputs, mode='tensor')
        if self.task == 'segmentation':
            metas = [self._metainfo() for _ in range(inputs.shape[0])]
            return self.model.encode_decode(inputs, metas)
        from mmdet.structures import DetDataSample
        samples = [DetDataSample(metainfo=self._metainfo())
                   for _ in range(inputs.shape[0])]
        if not (getattr(self.model, 'with_rpn', False)
                and getattr(self.model, 'roi_head', None) is not None):
            return self.model(inputs, samples, mode='tensor')
        return self._two_stage(inputs, samples)

    def _proposals(self) -> torch.Tensor:
        """:data:`DETECTION_PROPOSALS` fixed boxes inside the image."""
        g = torch.Generator().manual_seed(0)
        h, w = self.hw
        size = torch.tensor([w, h], dtype=torch.float32)
        xy = torch.rand(DETECTION_PROPOSALS, 2, generator=g) * 0.75 * size
        wh = (0.02 + 0.23 * torch.rand(DETECTION_PROPOSALS, 2,
                                       generator=g)) * size
        return torch.cat([xy, xy + wh], dim=1)

    def _two_stage(self, inputs: torch.Tensor, samples: list):
        from mmdet.models.roi_heads import CascadeRoIHead
        from mmdet.structures.bbox import bbox2roi
        from mmengine.structures import InstanceData
        model = self.model
        x = model.extract_feat(inputs)
        rpn_outs = model.rpn_head(x)  # its NMS has no FLOPs to count
        proposals = [InstanceData(bboxes=self._proposals()) for _ in samples]
        roi_head = model.roi_head
        if not isinstance(roi_head, CascadeRoIHead):
            # masks on the first DETECTION_MASK_ROIS RoIs, as mmdet does
            return rpn_outs, roi_head(x, proposals, samples)
        # mmdet 3's cascade forward runs every mask head on every proposal;
        # keep the convention of the other detectors (and of mmdet 2.x)
        metas = [s.metainfo for s in samples]
        rois, cls_scores, bbox_preds = roi_head._refine_roi(
            x, bbox2roi([p.bboxes for p in proposals]), metas,
            [DETECTION_PROPOSALS] * len(samples))
        outs = (cls_scores, bbox_preds)
        if roi_head.with_mask:
            mask_rois = torch.cat(rois)[:DETECTION_MASK_ROIS]
            outs += tuple(
                roi_head._mask_forward(stage, x, mask_rois)['mask_preds']
                for stage in range(roi_head.num_stages))
        return rpn_outs, outs


def measure_flops(model: nn.Module, task: str,
                  hw: Tuple[int, int]) -> int:
    """FLOPs of one ``(1, 3, H, W)`` image through a task model.

    mmengine's ``FlopAnalyzer`` (the counter of
    ``get_model_complexity_info``, which would also trace a second time for
    activations) with
    :data:`analysis_lib.complexity.EXTRA_FLOP_HANDLES` for the attention ops it
    does not count; element-wise ops (softmax, GELU, additions) are not
    counted, as in mmengine.

    Args:
        model (nn.Module): A built model (real weights, not ``meta``).
        task (str): See :func:`config_task`.
        hw (tuple[int, int]): Input height and width.

    Returns:
        int: FLOPs (one multiply-add counts as one).
    """
    from mmengine.analysis import FlopAnalyzer
    wrapper = _TensorForward(model, task, hw).eval()
    inputs = torch.randn(1, 3, *hw)
    with torch.no_grad():
        analyzer = FlopAnalyzer(wrapper, (inputs, ))
        from analysis_lib.complexity import EXTRA_FLOP_HANDLES
        analyzer.set_op_handle(**EXTRA_FLOP_HANDLES)
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        analyzer.tracer_warnings('none')
        return int(analyzer.total())


def measure_config(path: str, flops: bool = True) -> Dict[str, Any]:
    """Measure the parameters (and FLOPs) of a config's model.

    Args:
        path (str): Config file.
        flops (bool): Also measure FLOPs (builds the real model and runs it
            once; slow for large detectors on a CPU). Defaults to True.

    Returns:
        dict: ``Parameters`` (int), ``FLOPs Input`` ([H, W]) and, with
        ``flops``, ``FLOPs`` (int).
    """
    cfg = load_config(path)
    task = config_task(cfg)
    hw = flops_input_hw(cfg)
    out: Dict[str, Any] = {'FLOPs Input': list(hw)}
    if not flops:
        out['Parameters'] = count_parameters(build_model(cfg, 'meta'))
        return out
    model = build_model(cfg, 'cpu')
    out['Parameters'] = count_parameters(model)
    out['FLOPs'] = measure_flops(model, task, hw)
    return out


# ---------------------------------------------------------------------------
# metafile maintenance
# ---------------------------------------------------------------------------


def _new_entry(rel_config: str, cfg, family: str) -> dict:
    dataset = cfg.get('train_dataloader', {}).get('dataset', {}).get('type')
    data = DATASET_NAMES.get(dataset, dataset)
    return {
        'Name': osp.splitext(osp.basename(rel_config))[0],
        'In Collection': FAMILIES[family][0],
        'Config': rel_config,
        'Metadata': {'Training Data': [data] if data else []},
        'Results': [],
    }


def update_metafiles(root: str = ROOT,
                     configs: Optional[Sequence[str]] = None,
                     flops: bool = True,
                     log: Optional[Callable[[str], None]] = print
                     ) -> Dict[str, dict]:
    """Measure configs and write their numbers into the metafiles.

    Every measured config's entry gets fresh ``Parameters``, ``FLOPs Input``
    and (with ``flops``) ``FLOPs``; everything else of the entry is kept.
    Without ``flops`` the recorded FLOPs stay only if the parameter count and
    the FLOPs input did not change. A config without an entry gets a new one
    in its family's metafile (its paper result must then be added by hand;
    :func:`check` says so). The metafile of a config is rewritten atomically
    right after the config is measured.

    Args:
        root (str): Repository root. Defaults to :data:`ROOT`.
        configs (Sequence[str], optional): Config paths relative to ``root``
            to measure. Defaults to every config of :func:`list_configs`.
        flops (bool): Measure FLOPs too. Defaults to True.
        log (callable, optional): Progress messages. Defaults to ``print``.

    Returns:
        dict: config path -> the measured numbers.
    """
    metafiles = load_index(root)
    available = list_configs(root)
    if configs is None:
        configs = available
    for rel in configs:
        if rel not in available:
            raise ValueError(f'{rel!r} is not an indexed config; indexed '
                             f'configs are the *.py files of {CONFIG_DIRS} '
                             f'under {root} but {NOT_INDEXED}')
    by_config = {m.get('Config'): (rel, m) for rel, c in metafiles.items()
                 for m in c['Models']}
    measured = {}
    for rel in configs:
        start = time.time()
        numbers = measure_config(osp.join(root, rel), flops=flops)
        gc.collect()  # free the last model before building the next one
        measured[rel] = numbers
        if log:
            text = f'{numbers["Parameters"] / 1e6:.2f}M params'
            if 'FLOPs' in numbers:
                h, w = numbers['FLOPs Input']
                text += f', {numbers["FLOPs"] / 1e9:.1f}G FLOPs at {h}x{w}'
            log(f'{rel}: {text} ({time.time() - start:.1f}s)')
        if rel in by_config:
            entry = by_config[rel][1]
        else:
            cfg = load_config(osp.join(root, rel))
            family = config_family(cfg)
            meta_rel = FAMILIES[family][1]
            if meta_rel not in metafiles:
                raise ValueError(f'{meta_rel} (family {family}) is not '
                                 f'imported by {MODEL_INDEX}')
            entry = _new_entry(rel, cfg, family)
            metafiles[meta_rel]['Models'].append(entry)
            by_config[rel] = (meta_rel, entry)
            if log:
                log(f'{rel}: new entry in {meta_rel}; add its paper result '
                    '(Results, Paper Source) by hand')
        meta = entry.setdefault('Metadata', {})
        same_model = (meta.get('Parameters') == numbers['Parameters'] and
                      meta.get('FLOPs Input') == numbers['FLOPs Input'])
        if not flops and not same_model:
            meta.pop('FLOPs', None)  # the model or its input changed: stale
        meta.update(numbers)
        # written after every config, so a long run keeps what it measured
        meta_rel = by_config[rel][0]
        atomic_write_text(osp.join(root, meta_rel),
                          dump_metafile(metafiles[meta_rel]))
    return measured


# ---------------------------------------------------------------------------
# README table
# ---------------------------------------------------------------------------


def _fmt_count(value, unit: float, suffix: str) -> str:
    if value is None:
        return '-'
    return f'{value / unit:.1f}{suffix}'


def _fmt_results(results) -> str:
    if not results:
        return '-'
    parts = []
    for result in results:
        for name, value in result.get('Metrics', {}).items():
            parts.append(f'{name} {value}')
    return ', '.join(parts)


def _task_dataset(model: dict) -> str:
    results = model.get('Results') or []
    if results:
        tasks = ' + '.join(dict.fromkeys(r['Task'] for r in results))
        return f'{tasks} ({results[0]["Dataset"]})'
    data = model.get('Metadata', {}).get('Training Data') or []
    return data[-1] if data else '-'


def render_table(metafiles: Dict[str, dict], link_dir: str = '') -> str:
    """The README model table (markdown) of the metafiles.

    Args:
        metafiles (dict): From :func:`load_index`.
        link_dir (str): Folder of the README, relative to the root: config
            links are written relative to it. Defaults to the root.

    Returns:
        str: the text that goes between the README markers, ending with a
        newline.
    """
    lines = [
        'Generated by `python .dev_scripts/model_index.py --update-readme` '
        'from '
        f'`{MODEL_INDEX}`; do not edit by hand. Paper results and paper '
        'parameter/FLOP counts are copied from the papers; params and FLOPs '
        'are measured from the configs with mmengine\'s FLOP counter (one '
        'multiply-add = one FLOP, one image of the size given). No '
        'checkpoints are released: the numbers are the papers\', not '
        'reproductions.',
        '',
    ]
    collections = {}
    for content in metafiles.values():
        for col in content['Collections']:
            collections[col['Name']] = col
    for rel, content in metafiles.items():
        for name in dict.fromkeys(m['In Collection']
                                  for m in content['Models']):
            col = collections.get(name, {})
            title = col.get('Paper', {}).get('Title', '')
            lines.append(f'**{name}**' + (f' ({title})' if title else ''))
            lines.append('')
            lines.append('| Config | Task (dataset) | Pre-training | '
                         'Paper result | Params | Params (paper) | '
                         'FLOPs (input HxW) | FLOPs (paper) | Source |')
            lines.append('| --- | --- | --- | --- | ---: | ---: | ---: | '
                         '---: | --- |')
            for model in content['Models']:
                if model['In Collection'] != name:
                    continue
                meta = model.get('Metadata', {})
                data = meta.get('Training Data') or []
                pretrain = ', '.join(d for d in data
                                     if d.startswith('ImageNet')) or '-'
                flops = _fmt_count(meta.get('FLOPs'), 1e9, 'G')
                if meta.get('FLOPs Input') and meta.get('FLOPs') is not None:
                    h, w = meta['FLOPs Input']
                    flops += f' ({h}x{w})'
                config = osp.relpath(model['Config'], link_dir or '.')
                lines.append(
                    f'| [{model["Name"]}]({config}) '
                    f'| {_task_dataset(model)} '
                    f'| {pretrain} '
                    f'| {_fmt_results(model.get("Results"))} '
                    f'| {_fmt_count(meta.get("Parameters"), 1e6, "M")} '
                    f'| {meta.get("Paper Parameters", "-")} '
                    f'| {flops} '
                    f'| {meta.get("Paper FLOPs", "-")} '
                    f'| {meta.get("Paper Source", "-")} |')
            lines.append('')
    return '\n'.join(lines).rstrip('\n') + '\n'


def readme_tables(root: str, metafiles: Dict[str, dict],
                  readme: Optional[str] = None) -> List[Tuple[str, str]]:
    """The generated tables and where they go: every family's table in the
    repository README, and each family's own table in the README next to its
    metafile (``configs/revcolv2/README.md``).

    Args:
        root (str): Repository root.
        metafiles (dict): :func:`load_index` of ``root``.
        readme (str, optional): The repository README. Defaults to
            ``<root>/README.md``; ``''`` leaves it out.

    Returns:
        list[tuple[str, str]]: ``(README path, table text)`` pairs.
    """
    targets = []
    if readme is None:
        readme = osp.join(root, 'README.md')
    if readme:
        targets.append((readme, render_table(metafiles)))
    for rel, content in metafiles.items():
        targets.append((osp.join(root, osp.dirname(rel), 'README.md'),
                        render_table({rel: content}, osp.dirname(rel))))
    return targets


def _marker_lines(lines: List[str], path: str) -> Tuple[int, int]:
    starts = [i for i, line in enumerate(lines)
              if line.strip() == TABLE_START]
    ends = [i for i, line in enumerate(lines) if line.strip() == TABLE_END]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(
            f'{path} must contain the line {TABLE_START!r} once, followed '
            f'later by the line {TABLE_END!r} once; found {len(starts)} '
            f'start and {len(ends)} end markers')
    return starts[0], ends[0]


def readme_table(readme: str) -> str:
    """The text between the markers of a README file."""
    with open(readme, encoding='utf-8') as f:
        lines = f.read().splitlines(keepends=True)
    start, end = _marker_lines(lines, readme)
    return ''.join(lines[start + 1:end])


def update_readme(readme: str, table: str) -> bool:
    """Replace the text between the README markers by ``table``, atomically;
    the rest of the file is kept byte for byte.

    Args:
        readme (str): README path.
        table (str): New text (e.g. :func:`render_table`).

    Returns:
        bool: whether the file changed.
    """
    with open(readme, encoding='utf-8') as f:
        text = f.read()
    lines = text.splitlines(keepends=True)
    start, end = _marker_lines(lines, readme)
    if table and not table.endswith('\n'):
        table += '\n'
    new = ''.join(lines[:start + 1]) + table + ''.join(lines[end:])
    if new == text:
        return False
    atomic_write_text(readme, new)
    return True


# ---------------------------------------------------------------------------
# consistency
# ---------------------------------------------------------------------------


def check(root: str = ROOT,
          params: bool = True,
          readme: Optional[str] = None) -> List[str]:
    """Every way in which the index drifted from the configs and README.

    Args:
        root (str): Repository root. Defaults to :data:`ROOT`.
        params (bool): Re-count the parameters of every config (models built
            on the ``meta`` device) and compare with the metafiles; also
            checks the recorded FLOPs input. Defaults to True.
        readme (str, optional): README to compare with :func:`render_table`.
            Defaults to ``<root>/README.md``; ``''`` skips it.

    Returns:
        list[str]: one message per problem; empty when all is consistent.
    """
    problems = []
    metafiles = load_index(root)
    configs = list_configs(root)
    seen = {}
    for rel, content in metafiles.items():
        for model in content['Models']:
            name = model.get('Name', '?')
            where = f'{rel}: model {name!r}'
            for key in ('Name', 'In Collection', 'Config', 'Metadata'):
                if key not in model:
                    problems.append(f'{where} has no {key!r}')
            config = model.get('Config')
            if config is None:
                continue
            if config in seen:
                problems.append(f'{where}: {config} is also listed in '
                                f'{seen[config]}')
            seen[config] = rel
            if name != osp.splitext(osp.basename(config))[0]:
                problems.append(f'{where}: Name must be the config stem of '
                                f'{config}')
            if config not in configs:
                problems.append(f'{where}: config {config} does not exist')
            meta = model.get('Metadata') or {}
            source = str(meta.get('Paper Source', ''))
            if not source:
                problems.append(f'{where} has no Metadata "Paper Source"')
            results = model.get('Results')
            if not results and not source.lower().startswith('none'):
                problems.append(
                    f'{where} has no paper Results (add them, or say why '
                    'there is none with "Paper Source: none, <reason>")')
            for result in results or []:
                for key in ('Task', 'Dataset', 'Metrics'):
                    if not result.get(key):
                        problems.append(f'{where}: a result has no {key!r}')
            for key in MEASURED_KEYS:
                if meta.get(key) is None:
                    problems.append(
                        f'{where} has no measured {key!r}; run tools/'
                        'model_index.py --update-metafile')
    for config in configs:
        if config not in seen:
            problems.append(f'{config} is not listed in any metafile; run '
                            '.dev_scripts/model_index.py --update-metafile and add '
                            'its paper result')
    if params:
        for rel, content in metafiles.items():
            for model in content['Models']:
                config = model.get('Config')
                if config not in configs:
                    continue
                meta = model.get('Metadata') or {}
                fresh = measure_config(osp.join(root, config), flops=False)
                if meta.get('Parameters') != fresh['Parameters']:
                    problems.append(
                        f'{config}: metafile says {meta.get("Parameters")} '
                        f'parameters, the config builds '
                        f'{fresh["Parameters"]}; run --update-metafile')
                if list(meta.get('FLOPs Input') or []) != fresh['FLOPs Input']:
                    problems.append(
                        f'{config}: FLOPs were measured at '
                        f'{meta.get("FLOPs Input")}, the config now gives '
                        f'{fresh["FLOPs Input"]}; run --update-metafile')
    for path, table in readme_tables(root, metafiles, readme):
        try:
            current = readme_table(path)
        except (FileNotFoundError, ValueError) as err:
            problems.append(str(err))
        else:
            if current != table:
                problems.append(
                    f'{path}: the model table differs from the metafiles; '
                    'run .dev_scripts/model_index.py --update-readme')
    return problems


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Update or check model-index.yml, the metafiles and the '
        'README model table')
    parser.add_argument(
        '--update-metafile',
        action='store_true',
        help='measure params/FLOPs of the configs and write the metafiles')
    parser.add_argument(
        '--update-readme',
        action='store_true',
        help='rewrite the README model table from the metafiles')
    parser.add_argument(
        '--check',
        action='store_true',
        help='exit 1 if the index or README drifted from the configs')
    parser.add_argument(
        '--configs',
        nargs='+',
        metavar='CONFIG',
        help='with --update-metafile: only these configs (paths relative to '
        'the root, e.g. configs/revcolv2/revcolv2-b_8xb128-100e_in1k.py)')
    parser.add_argument(
        '--no-flops',
        action='store_true',
        help='with --update-metafile: count parameters only (drops the '
        'recorded FLOPs of the measured configs)')
    parser.add_argument(
        '--no-params',
        action='store_true',
        help='with --check: do not re-count parameters (faster)')
    parser.add_argument(
        '--root',
        default=ROOT,
        help='repository root (default: this checkout)')
    parser.add_argument(
        '--readme',
        default=None,
        help='README file (default: ROOT/README.md)')
    args = parser.parse_args(argv)
    if not (args.update_metafile or args.update_readme or args.check):
        parser.error('give at least one of --update-metafile, '
                     '--update-readme, --check')
    if (args.configs or args.no_flops) and not args.update_metafile:
        parser.error('--configs and --no-flops go with --update-metafile')
    if args.no_params and not args.check:
        parser.error('--no-params goes with --check')
    return parser, args


def main(argv=None) -> int:
    parser, args = parse_args(argv)
    readme = args.readme
    try:
        if args.update_metafile:
            start = time.time()
            configs = None
            if args.configs:
                # paths relative to the current folder or to the root
                configs = [
                    osp.relpath(osp.abspath(c), args.root).replace('\\', '/')
                    if osp.exists(c) else c for c in args.configs
                ]
            measured = update_metafiles(
                args.root, configs, flops=not args.no_flops)
            print(f'measured {len(measured)} configs in '
                  f'{time.time() - start:.0f}s')
        if args.update_readme:
            metafiles = load_index(args.root)
            for path, table in readme_tables(args.root, metafiles, readme):
                changed = update_readme(path, table)
                print(f'{path}: model table '
                      f'{"updated" if changed else "already up to date"}')
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    if args.check:
        problems = check(
            args.root, params=not args.no_params, readme=readme)
        for problem in problems:
            print(problem)
        if problems:
            print(f'model index check: {len(problems)} problem(s)')
            return 1
        print('model index check: OK')
    return 0


if __name__ == '__main__':
    sys.exit(main())
