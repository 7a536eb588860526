"""The bad-input catalogue: what a user can hit, and that each gets one clear
error naming the argument or file, the value and the fix, with no
checkpoint or output file written or overwritten.

Checkpoint files (truncated, empty, text, non-dict, non-RevCol, another
arch size, a crafted pickle) go through every path that reads them:
``Pretrained`` init, ``--resume``, ``load_from``, ``tools/test.py``'s
CHECKPOINT, the converters and ``check_reversible.py``. The crafted pickle
would write a file if it ever ran; it runs on no path, on either torch
stack (run this module with both virtual environments).
"""
import functools
import os
import os.path as osp
import pickle
import re
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint

from mmrevcol import apis
from mmrevcol.engine import enable_safe_checkpoint_loading
from mmrevcol.engine.checkpoint_compat import CheckpointFileError
from mmrevcol.engine.hooks import NonFiniteGuardHook, ReversibleErrorHook
from mmrevcol.models import RevColV2
from mmrevcol.models.checkpoint import CheckpointKeyError

from tests.helpers import ROOT, TINY_V2, WritesAFile, run_tool

TOY_SEG = osp.join(ROOT, 'configs', 'toy', 'upernet_revcolv2_toy_ade20k.py')
TOY_CLS = osp.join(ROOT, 'configs', 'toy', 'revcolv2_toy_imagenet.py')
sys.path.insert(0, osp.join(ROOT, 'tools', 'model_converters'))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))
import revcol_converter  # noqa: E402
import revcolv2_mim_export  # noqa: E402

# ------------------------------------------------------------ the files


def tiny_v2(**kwargs):
    return RevColV2(TINY_V2, img_size=32, **kwargs)


def _write(path, data):
    with open(path, 'wb') as f:
        f.write(data)
    return str(path)


def make_bad_file(kind, folder):
    """A checkpoint-like file of one bad kind; returns ``(path, what the
    message must say)``."""
    path = osp.join(folder, f'{kind}.pth')
    good = {'state_dict': {'backbone.' + k: v for k, v in
                           tiny_v2().state_dict().items()}}
    if kind == 'missing':
        return path, 'can not be found|does not exist'
    if kind == 'empty':
        return _write(path, b''), r'is empty \(0 bytes\)'
    if kind == 'text':
        return _write(path, b'model weights, see the README\n'), \
            "is not a PyTorch checkpoint: it starts with b'model weights"
    if kind == 'truncated':
        torch.save(good, path)
        with open(path, 'rb') as f:
            data = f.read()
        return _write(path, data[:len(data) // 2]), 'is truncated'
    if kind == 'truncated_legacy':
        torch.save(good, path, _use_new_zipfile_serialization=False)
        with open(path, 'rb') as f:
            data = f.read()
        return (_write(path, data[:len(data) // 2]),
                'cannot be read|cannot read checkpoint')
    if kind == 'list':
        torch.save([torch.zeros(2)], path)
        return path, 'holds a list, not a dict'
    if kind == 'directory':
        os.makedirs(path)
        return path, 'is a directory'
    raise ValueError(kind)


BAD_FILES = ['missing', 'empty', 'text', 'truncated', 'truncated_legacy',
             'list', 'directory']


def files_of(folder):
    """``{relative path: (size, mtime_ns)}`` of every file under folder."""
    out = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            full = osp.join(dirpath, name)
            st = os.stat(full)
            out[osp.relpath(full, folder)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def safe_loading():
    """mmengine's local loader as the tools install it."""
    enable_safe_checkpoint_loading()


# ------------------------------------------- every path, every bad file
def _pretrained(path):
    tiny_v2(init_cfg=dict(type='Pretrained', checkpoint=path)).init_weights()


@functools.lru_cache()
def toy_seg_config():
    """The toy UperNet config, read once (the apis copy it)."""
    return Config.fromfile(TOY_SEG)


def _resume(path):
    apis.build_train_config(toy_seg_config(), work_dir='/nonexistent/w',
                            resume=path)


def _load_from(path):
    apis.build_train_config(toy_seg_config(), work_dir='/nonexistent/w',
                            cfg_options={'load_from': path})


def _test_checkpoint(path):
    apis.build_test_config(toy_seg_config(), path, work_dir='/nonexistent/w')


def _mmengine_loader(path):
    # what the Runner calls for load_from / resume once the files pass the
    # config-time check (non-dict and truncated legacy files get here)
    load_checkpoint(tiny_v2(), path, map_location='cpu')


#: loader, how its messages name the file (regex)
PATHS = {
    'Pretrained': (_pretrained, r'init_cfg\.checkpoint'),
    'resume': (_resume, r'resume checkpoint (\(--resume\) )?'),
    'load_from': (_load_from, 'load_from checkpoint'),
    'test CHECKPOINT': (_test_checkpoint,
                        r'checkpoint (\(argument: checkpoint\) )?'),
    'runner loader': (_mmengine_loader, 'checkpoint'),
}

#: Files whose problem only shows when the content is read: the config-time
#: checks of resume/load_from/test pass them on to the runner's loader.
CONTENT_ONLY = {'truncated_legacy', 'list'}


@pytest.mark.parametrize('kind', BAD_FILES)
@pytest.mark.parametrize('where', list(PATHS))
def test_bad_checkpoint_file(tmp_path, safe_loading, where, kind):
    load, what = PATHS[where]
    path, expected = make_bad_file(kind, str(tmp_path))
    before = files_of(tmp_path)
    if kind in CONTENT_ONLY and where in ('resume', 'load_from',
                                           'test CHECKPOINT'):
        load(path)  # passes the cheap check; the runner's loader refuses:
        load, what = PATHS['runner loader']
    error = FileNotFoundError if kind == 'missing' else CheckpointFileError
    with pytest.raises(error) as info:
        load(path)
    msg = str(info.value)
    assert re.search(what + ' ?' + re.escape(repr(path)), msg), msg
    assert re.search(expected, msg), msg
    if kind != 'missing':
        assert 'expected a file written by torch.save' in msg
    assert files_of(tmp_path) == before  # nothing written or changed


@pytest.mark.parametrize('kind', BAD_FILES)
@pytest.mark.parametrize('tool', ['revcol_converter', 'revcolv2_mim_export'])
def test_converters_refuse_bad_files(tmp_path, capsys, tool, kind):
    src, expected = make_bad_file(kind, str(tmp_path))
    dst = str(tmp_path / 'out.pth')
    before = files_of(tmp_path)
    main = (revcol_converter if tool == 'revcol_converter' else
            revcolv2_mim_export).main
    assert main([src, dst, '--force']) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and src in err, err
    assert re.search(expected, err), err
    assert err.count('\n') == 1  # one line, no traceback
    assert files_of(tmp_path) == before and not osp.exists(dst)


def test_check_reversible_refuses_a_text_checkpoint(tmp_path):
    path, expected = make_bad_file('text', str(tmp_path))
    proc = run_tool(osp.join('analysis_tools', 'check_reversible.py'),
                    TOY_SEG, path, '--precisions', 'fp32')
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert f'error: CHECKPOINT {path!r} is not a PyTorch checkpoint' in last
    assert 'Traceback' not in proc.stderr


# ------------------------------------------- checkpoints of other models
def test_non_revcol_checkpoint_for_pretrained(tmp_path):
    path = str(tmp_path / 'resnet.pth')
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(8, 3, 7,
                                                                    7),
                               'backbone.bn1.weight': torch.zeros(8)}}, path)
    with pytest.raises(CheckpointKeyError) as info:
        _pretrained(path)
    msg = str(info.value)
    assert f'init_cfg.checkpoint {path!r} holds no key of this backbone' \
        in msg
    assert 'bn1.weight, conv1.weight' in msg and 'init_cfg.prefix' in msg


def test_checkpoint_of_another_arch_size(tmp_path):
    path = str(tmp_path / 'wide.pth')
    wide = RevColV2(dict(TINY_V2, embed_dims=48), img_size=32)
    torch.save({'state_dict': {'backbone.' + k: v for k, v in
                               wide.state_dict().items()}}, path)
    model = tiny_v2(init_cfg=dict(type='Pretrained', checkpoint=path))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointKeyError) as info:
        model.init_weights()
    msg = str(info.value)
    assert f'init_cfg.checkpoint {path!r} is for another arch size' in msg
    # first key in module order, but those the backbone resizes itself
    # (position embeddings of another input size)
    key = next(k for k in wide.state_dict()
               if k not in RevColV2.KEYS_RESIZED_ON_LOAD)
    assert (f'the first is {key}: {tuple(wide.state_dict()[key].shape)} in '
            f'the checkpoint, {tuple(before[key].shape)} in this backbone'
            in msg)
    assert 'model.backbone.arch' in msg
    for k, v in model.state_dict().items():  # nothing loaded
        torch.testing.assert_close(v, before[k], msg=k)


def test_v2_checkpoint_given_to_the_v1_converter(tmp_path, capsys):
    src = str(tmp_path / 'v2.pth')
    torch.save({'state_dict': {'backbone.' + k: v for k, v in
                               tiny_v2().state_dict().items()}}, src)
    dst = str(tmp_path / 'out.pth')
    assert revcol_converter.main([src, dst]) == 1
    err = capsys.readouterr().err
    assert f"SRC {src!r} is a RevColV2 checkpoint" in err
    assert 'reads RevCol (V1) checkpoints only' in err
    assert "init_cfg=dict(type='Pretrained'" in err
    assert not osp.exists(dst)


# ------------------------------------------------------ crafted pickles
def _payload_checkpoint(folder, marker):
    path = osp.join(folder, 'evil.pth')
    torch.save({'state_dict': {'backbone.' + k: v for k, v in
                               tiny_v2().state_dict().items()},
                'meta': {'note': WritesAFile(marker)}}, path)
    return path


def _payload_converter(path, tmp):
    return revcol_converter.main([path, osp.join(tmp, 'o.pth')])


def _payload_export(path, tmp):
    return revcolv2_mim_export.main([path, osp.join(tmp, 'o.pth')])


def _payload_check_reversible(path, tmp):
    from analysis_lib.reversible_check import load_backbone_weights
    return load_backbone_weights(tiny_v2(), path)


def _payload_runner(path, tmp):
    return _mmengine_loader(path)


PAYLOAD_PATHS = {
    'Pretrained': lambda path, tmp: _pretrained(path),
    'resume/load_from/test (runner loader)': _payload_runner,
    'revcol_converter': _payload_converter,
    'revcolv2_mim_export': _payload_export,
    'check_reversible': _payload_check_reversible,
}


@pytest.mark.parametrize('where', list(PAYLOAD_PATHS))
def test_crafted_pickle_never_runs(tmp_path, safe_loading, where):
    marker = str(tmp_path / 'pwned')
    path = _payload_checkpoint(str(tmp_path), marker)
    try:
        PAYLOAD_PATHS[where](path, str(tmp_path))
    except pickle.UnpicklingError as err:
        # the weights-only loaders refuse the file, naming the global
        assert 'write_marker' in str(err)
    # the backbone readers load the weights and keep the object inert; the
    # converters refuse the file (not a V1 / not a MIM checkpoint)
    assert not osp.exists(marker)


# ------------------------------------------------------- dataset folders
@pytest.mark.parametrize('state', ['missing', 'empty'])
def test_missing_or_empty_dataset_folder(tmp_path, state):
    root = str(tmp_path / 'toy_ade20k')
    if state == 'empty':
        os.makedirs(root)
    cfg = apis.build_train_config(
        toy_seg_config(), work_dir=str(tmp_path / 'work'),
        cfg_options={'train_dataloader.dataset.data_root': root})
    with pytest.raises(FileNotFoundError) as info:
        apis.run_train(cfg)
    msg = str(info.value)
    problem = 'does not exist' if state == 'missing' else \
        'is an empty folder'
    assert msg.startswith(f'train_dataloader.dataset.data_root: {root!r} '
                          f'{problem}')
    assert ('python tools/dataset_converters/make_toy_data.py ade20k '
            f'{root}') in msg
    assert not osp.exists(tmp_path / 'work')  # no runner was built


def test_missing_image_folder_names_its_key(tmp_path):
    root = tmp_path / 'toy_ade20k'
    (root / 'annotations' / 'training').mkdir(parents=True)
    (root / 'annotations' / 'training' / 'a.png').write_bytes(b'x')
    cfg = apis.build_train_config(
        toy_seg_config(), work_dir=str(tmp_path / 'work'),
        cfg_options={'train_dataloader.dataset.data_root': str(root)})
    with pytest.raises(FileNotFoundError,
                       match=r'train_dataloader\.dataset\.data_prefix\.'
                       r'img_path: .*images/training\' does not exist'):
        apis.check_data_roots(cfg)


def test_train_cli_missing_dataset(tmp_path):
    root = str(tmp_path / 'nowhere')
    proc = run_tool('train.py', TOY_SEG, '--work-dir', str(tmp_path / 'w'),
                    '--cfg-options',
                    f'train_dataloader.dataset.data_root={root}')
    assert proc.returncode == 2
    assert 'Traceback' not in proc.stderr
    assert (f'error: train_dataloader.dataset.data_root: {root!r} does not '
            f'exist') in proc.stderr
    assert not osp.exists(tmp_path / 'w')


def test_test_cli_text_checkpoint(tmp_path):
    path, _ = make_bad_file('text', str(tmp_path))
    proc = run_tool('test.py', TOY_SEG, path, '--work-dir',
                    str(tmp_path / 'w'))
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr
    assert (f'error: checkpoint (argument: checkpoint) {path!r} is not a '
            f'PyTorch checkpoint') in proc.stderr


# ------------------------------------------------------------ arguments
@pytest.mark.parametrize('build,message', [
    (lambda: NonFiniteGuardHook(max_names=0),
     'max_names must be an int >= 1'),
    (lambda: ReversibleErrorHook(interval=0), 'interval must be an int >= 1'),
    (lambda: ReversibleErrorHook(num_images=1.5),
     'num_images must be an int >= 1, got 1.5'),
    (lambda: ReversibleErrorHook(warn_threshold=-1),
     'warn_threshold must be a number >= 0, got -1'),
])
def test_hook_arguments(build, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build()


TOOL_OPTIONS = [
    ('analysis_tools/check_reversible.py', [TOY_SEG, '--num-batches', '0'],
     "argument --num-batches: must be an int >= 1, got '0'"),
    ('analysis_tools/check_reversible.py',
     [TOY_SEG, '--keep-states-every', '0'],
     "argument --keep-states-every: must be 'none' or an int >= 1, got '0'"),
    ('analysis_tools/benchmark_fps.py', [TOY_SEG, '--iters', '0'],
     "argument --iters: must be an int >= 1, got '0'"),
    ('analysis_tools/benchmark_fps.py', [TOY_SEG, '--warmup', '-1'],
     "argument --warmup: must be an int >= 0, got '-1'"),
    ('analysis_tools/benchmark_memory.py', ['--img-size', '16'],
     "argument --img-size: must be an int >= 32, got '16'"),
    ('analysis_tools/benchmark_memory.py', ['--mask-ratio', '1'],
     "argument --mask-ratio: must be a number in [0, 1), got '1'"),
    ('analysis_tools/benchmark_memory.py', ['--columns', '2', '0'],
     "--columns must be >= 1, got [2, 0]"),
    ('analysis_tools/benchmark_memory.py', ['--steps', '0'],
     "argument --steps: must be an int >= 1, got '0'"),
    ('analysis_tools/get_flops.py', [TOY_SEG, '--max-depth', '-1'],
     "argument --max-depth: must be an int >= 0, got '-1'"),
    ('analysis_tools/visualize_mim.py', ['c', 'k', 'o.png', '--num-images',
                                         '0'],
     "argument --num-images: must be an int >= 1, got '0'"),
    ('analysis_tools/visualize_mim.py', ['c', 'k', 'o.png', '--mask-ratio',
                                         '-0.1'],
     "argument --mask-ratio: must be a number in [0, 1), got '-0.1'"),
    ('train.py', [TOY_SEG, '--launcher', 'mpirun'],
     "argument --launcher: invalid choice: 'mpirun'"),
    ('test.py', [TOY_SEG, 'x.pth', '--out', 'preds.json'],
     "out must be a file ending in .pkl or .pickle, but got 'preds.json'"),
]


@pytest.mark.parametrize('tool,args,message', TOOL_OPTIONS,
                         ids=[f'{t}:{a[-2]}' for t, a, _ in TOOL_OPTIONS])
def test_tool_options(tmp_path, capsys, monkeypatch, tool, args, message):
    """In process: each tool's parser (``main(argv)``) exits with status 2
    and one ``error:`` line naming the option, the value and the range."""
    import importlib.util
    monkeypatch.chdir(tmp_path)
    if tool == 'test.py':  # the checkpoint must exist for --out to matter
        torch.save({'state_dict': {}}, 'x.pth')
    spec = importlib.util.spec_from_file_location(
        'tool_' + osp.basename(tool)[:-3], osp.join(ROOT, 'tools', tool))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit) as info:
        module.main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert os.listdir(tmp_path) == (['x.pth'] if tool == 'test.py' else [])


TOY_MIM = osp.join(ROOT, 'configs', 'toy', 'revcolv2_toy_mim_imagenet.py')


@pytest.mark.parametrize('override,message', [
    ({'model.neck.embed_dims': 48},
     'neck.embed_dims 48 must equal the backbone embed_dims 64'),
    ({'model.neck.patch_size': 4},
     'neck.patch_size and neck.in_channels give 48 outputs per token, the '
     'backbone patches need 8**2 * 3 = 192: set neck.patch_size=8'),
    ({'model.head.patch_size': 4},
     'head.patch_size 4 must equal the backbone patch_size 8'),
    ({'model.backbone.out_type': 'featmap'}, "out_type='masked'"),
])
def test_mim_model_arguments(override, message):
    cfg = Config.fromfile(TOY_MIM)
    cfg.merge_from_dict(override)
    from mmengine.registry import MODELS, DefaultScope
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        with pytest.raises(ValueError, match=re.escape(message)):
            MODELS.build(cfg.model)


# ------------------------------------------------------------- image inputs

def _v1(**kwargs):
    from mmrevcol.models import RevCol
    return RevCol(arch=dict(channels=[8, 16, 32, 64], depths=[1, 1, 1, 1],
                            num_columns=2), **kwargs)


@pytest.mark.parametrize('build,x,exc,message', [
    (tiny_v2, [[0.0]], TypeError, 'RevColV2 takes a torch.Tensor of images, '
     'got list'),
    (tiny_v2, torch.zeros(1, 3, 32, 32, dtype=torch.uint8), TypeError,
     'RevColV2 takes float images, got a torch.uint8 tensor: normalise them '
     'first'),
    (tiny_v2, torch.zeros(3, 32, 32), ValueError,
     r'RevColV2 expects \(B, 3, H, W\) inputs \(in_channels=3\), got shape '
     r'\(3, 32, 32\)'),
    (tiny_v2, torch.zeros(1, 1, 32, 32), ValueError,
     r'got shape \(1, 1, 32, 32\)'),
    (tiny_v2, torch.zeros(1, 3, 32, 4), ValueError,
     r'RevColV2 needs inputs of at least 16x16 pixels \(one patch, '
     r'patch_size=16\), got 32x4'),
    (_v1, torch.zeros(1, 3, 64, 64, dtype=torch.int64), TypeError,
     'RevCol takes float images, got a torch.int64 tensor'),
    (_v1, torch.zeros(1, 3, 16, 64), ValueError,
     r'RevCol needs inputs of at least 32x32 pixels \(level 3 has stride '
     r'32\), got 16x64'),
])
def test_bad_image_inputs(build, x, exc, message):
    model = build().eval()
    with pytest.raises(exc, match=message), torch.no_grad():
        model(x)


def test_train_tool_ends_a_bad_pretrained_checkpoint_with_one_line(
        tmp_path, capsys):
    """Found only once the runner initialises the backbone: the tool still
    ends with the one-line error (exit 2), writes no checkpoint."""
    import importlib.util
    from mmrevcol.datasets.toy import make_toy_data
    root = str(tmp_path / 'toy')
    make_toy_data('ade20k', root, num_train=2, num_val=1, img_size=32,
                  seed=0)
    wide = RevColV2(dict(TINY_V2, embed_dims=48), img_size=32)
    ckpt = str(tmp_path / 'wide.pth')
    torch.save({'state_dict': {'backbone.' + k: v for k, v in
                               wide.state_dict().items()}}, ckpt)
    spec = importlib.util.spec_from_file_location(
        '_train_tool', osp.join(ROOT, 'tools', 'train.py'))
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    config = tmp_path / 'pretrained.py'
    config.write_text(
        f'_base_ = [{TOY_SEG!r}]\n'
        f'model = dict(backbone=dict(init_cfg=dict(\n'
        f'    _delete_=True, type="Pretrained", checkpoint={ckpt!r})))\n')
    work = tmp_path / 'w'
    with pytest.raises(SystemExit) as info:
        train.main([str(config), '--work-dir', str(work), '--cfg-options',
                    f'train_dataloader.dataset.data_root={root}',
                    f'val_dataloader.dataset.data_root={root}',
                    f'test_dataloader.dataset.data_root={root}'])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert (f'error: RevColV2: init_cfg.checkpoint {ckpt!r} is for another '
            f'arch size') in err
    assert not list(work.rglob('*.pth'))
