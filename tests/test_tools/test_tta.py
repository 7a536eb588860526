"""``tools/test.py --tta``: multi-scale + flip testing with the config's
``tta_pipeline`` / ``tta_model`` (inherited from the mmseg bases), on the toy
ADE20K set with a randomly initialised toy UperNet checkpoint."""
import importlib.util
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmrevcol import apis
from mmrevcol.datasets.toy import make_toy_data
from tests.helpers import load_script

DEFAULT_CONFIG = load_script('demo/toy_demo.py').DEFAULT_CONFIG
from tests.helpers import ROOT

REPO = ROOT
TOOLS = osp.join(REPO, 'tools')

#: The toy images: 64x64, so the scale factors of the mmseg ADE20K
#: tta_pipeline (0.5 ... 1.75) give these sides.
IMG_SIZE = 64
NUM_VAL = 2


def _load_test_tool():
    spec = importlib.util.spec_from_file_location(
        'mmrevcol_tool_test_tta', osp.join(TOOLS, 'test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _data_options(root):
    return [
        f'{key}.dataset.data_root={root}'
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]


@pytest.fixture(scope='module')
def toy_ckpt(tmp_path_factory):
    """Toy ADE20K data and a checkpoint of the randomly initialised toy
    UperNet (what a 0-iteration run would save)."""
    import mmrevcol  # noqa: F401  (registers RevColV2)
    from mmseg.registry import MODELS
    root = tmp_path_factory.mktemp('tta')
    data = make_toy_data('ade20k', str(root / 'toy_ade20k'), num_train=1,
                         num_val=NUM_VAL, img_size=IMG_SIZE, seed=0)
    cfg = Config.fromfile(DEFAULT_CONFIG)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    ckpt = str(root / 'random.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    return root, data, ckpt


def test_build_test_config_tta(toy_ckpt):
    _, data, ckpt = toy_ckpt
    plain = apis.build_test_config(DEFAULT_CONFIG, ckpt)
    cfg = apis.build_test_config(DEFAULT_CONFIG, ckpt, tta=True,
                                 show_dir='vis')
    assert cfg.model.type == 'SegTTAModel'
    assert cfg.model.module == plain.model
    assert cfg.test_dataloader.dataset.pipeline == plain.tta_pipeline
    # only the test set runs the TTA pipeline
    assert cfg.val_dataloader.dataset.pipeline == \
        plain.val_dataloader.dataset.pipeline
    assert cfg.visualizer.save_dir == 'vis'
    assert cfg.default_hooks.visualization.draw is True


def test_tta_dataset_under_wrapper(toy_ckpt):
    _, _, ckpt = toy_ckpt
    cfg = Config.fromfile(DEFAULT_CONFIG)
    inner = cfg.test_dataloader.dataset
    cfg.test_dataloader.dataset = dict(type='RepeatDataset', times=2,
                                       dataset=inner)
    cfg = apis.build_test_config(cfg, ckpt, tta=True)
    assert cfg.test_dataloader.dataset.type == 'RepeatDataset'
    assert cfg.test_dataloader.dataset.dataset.pipeline == cfg.tta_pipeline


@pytest.mark.parametrize('key', ['tta_model', 'tta_pipeline'])
def test_tta_needs_model_and_pipeline(toy_ckpt, tmp_path, key):
    _, _, ckpt = toy_ckpt
    cfg = Config.fromfile(DEFAULT_CONFIG)
    cfg.pop(key)
    with pytest.raises(ValueError, match=f'tta needs {key} in the config'):
        apis.build_test_config(cfg, ckpt, tta=True)
    # the tool turns it into a usage error
    path = tmp_path / 'no_tta.py'
    path.write_text(f'_base_ = [{DEFAULT_CONFIG!r}]\n{key} = None\n')
    with pytest.raises(SystemExit) as exc:
        _load_test_tool().main([str(path), ckpt, '--tta'])
    assert exc.value.code == 2


def test_test_tool_tta_runs_every_scale_and_flip(toy_ckpt, tmp_path,
                                                 monkeypatch, capsys):
    """tools/test.py --tta --show-dir: the backbone sees every image at the
    six scales of the mmseg ADE20K tta_pipeline, each plain and flipped, and
    the metrics are printed."""
    _, data, ckpt = toy_ckpt
    inputs = []
    build_runner = apis.build_runner

    def counting_build_runner(cfg):
        runner = build_runner(cfg)
        runner.model.module.backbone.register_forward_hook(
            lambda module, args, out: inputs.append(args[0].detach().clone()))
        return runner

    monkeypatch.setattr(apis, 'build_runner', counting_build_runner)
    show_dir = tmp_path / 'vis'
    metrics = _load_test_tool().main([
        DEFAULT_CONFIG, ckpt, '--tta', '--work-dir',
        str(tmp_path / 'work'), '--show-dir',
        str(show_dir), '--cfg-options', *_data_options(data),
        'default_hooks.visualization.interval=1'
    ])
    ratios = Config.fromfile(DEFAULT_CONFIG).img_ratios
    sides = [round(IMG_SIZE * r) for r in ratios]
    assert len(sides) == 6
    # one backbone call per (image, scale, flip), scales in pipeline order
    assert len(inputs) == NUM_VAL * len(sides) * 2
    assert [x.shape[-1] for x in inputs] == \
        [s for _ in range(NUM_VAL) for s in sides for _ in (0, 1)]
    # the second pass of each scale is the horizontally flipped image
    for plain, flipped in zip(inputs[::2], inputs[1::2]):
        assert torch.equal(flipped, plain.flip(-1))
    out = capsys.readouterr().out
    line = [x for x in out.splitlines() if x.startswith('metrics: ')]
    assert len(line) == 1, out[-2000:]
    printed = json.loads(line[0][len('metrics: '):])
    assert set(printed) >= {'aAcc', 'mIoU', 'mAcc'}
    assert printed['mIoU'] == pytest.approx(float(metrics['mIoU']))
    drawn = sorted(p.name for p in show_dir.rglob('*.png'))
    assert len(drawn) == NUM_VAL, drawn
