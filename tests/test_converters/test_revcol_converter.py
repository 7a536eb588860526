"""The RevCol (V1) checkpoint converter: official layouts, kernel padding,
reports and error cases."""
import hashlib
import importlib.util
import os
import os.path as osp
import re
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

from mmrevcol.converters import (ConversionError, convert_checkpoint,
                                 convert_state_dict, find_state_dict,
                                 pad_depthwise_kernel)
from mmrevcol.converters.revcol import (GROUP_FIRST_ALPHA, GROUP_OUTSIDE,
                                        GROUP_UNKNOWN, HEAD_GROUPS)
from mmrevcol.models.backbones.revcol import RevCol
from tests.helpers import ROOT

ROOT = ROOT

#: CPU-sized archs: a plain one and one with the RevCol-H level-0 branch.
TINY = dict(channels=[8, 16, 24, 32], depths=[1, 1, 2, 1], num_columns=3)
TINY_H = dict(TINY, fuse_top=True)


# ------------------------------------------------------------------ helpers
def randomize_(model, std=0.2):
    """Non-trivial weights everywhere (the default layer scale 1e-6 would
    hide the block weights), shortcut scales of both signs."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if re.search(r'\.gamma\d$', name):
                sign = torch.where(torch.rand(p.shape, generator=gen) < 0.3,
                                   -1.0, 1.0)
                p.copy_(sign * (0.3 + 0.5 * torch.rand(p.shape,
                                                       generator=gen)))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * std +
                        (1.0 if name.endswith('norm.weight') else 0.0))
    return model


def to_official(state_dict, settings):
    """Rename an mmrevcol RevCol state dict to the official names (written
    from the issue's list of official keys, independently of the converter)
    and add what official checkpoints also hold: first-column alphas and the
    classification / intermediate-supervision heads."""
    out = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith('stem.'):
            out[key] = value
            continue
        j, rest = re.match(r'columns\.(\d+)\.(.*)$', key).groups()
        m = re.match(r'gamma(\d)$', rest)
        if m:
            out[f'subnet{j}.alpha{m[1]}'] = value
            continue
        lvl, rest = re.match(r'levels\.(\d)\.(.*)$', rest).groups()
        rest = re.sub(r'^down\.', 'fusion.down.', rest)
        rest = re.sub(r'^(up2?)\.proj\.', r'fusion.\1.channel_reschedule.0.',
                      rest)
        rest = re.sub(r'^(up2?)\.norm\.', r'fusion.\1.channel_reschedule.1.',
                      rest)
        rest = rest.replace('.depthwise_conv.', '.dwconv.')
        rest = rest.replace('.mlp.layers.0.0.', '.pwconv1.')
        rest = rest.replace('.mlp.layers.1.', '.pwconv2.')
        rest = re.sub(r'\.layer_scale\.weight$', '.gamma', rest)
        out[f'subnet{j}.level{lvl}.{rest}'] = value
    device = next(iter(state_dict.values())).device
    for lvl, c in enumerate(settings['channels']):
        out[f'subnet0.alpha{lvl}'] = torch.full((1, c, 1, 1), 0.7,
                                                device=device)
    top = settings['channels'][-1]
    out['cls.classifier.0.weight'] = torch.ones(top, device=device)
    out['cls.classifier.1.weight'] = torch.zeros(10, top, device=device)
    out['cls_blocks.0.classifier.1.bias'] = torch.zeros(10, device=device)
    out['decoder_blocks.0.blocks.0.weight'] = torch.zeros(3, 3,
                                                          device=device)
    return out


def make_official(settings=TINY, kernel_size=3, std=0.2):
    model = randomize_(RevCol(dict(settings), kernel_size=kernel_size), std)
    return model.eval(), to_official(model.state_dict(), settings)


def _ln_cf(x, weight, bias):
    return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1], ), weight, bias,
                        1e-6).permute(0, 3, 1, 2)


def official_forward(sd, x, settings):
    """The official RevCol forward, written directly on the official keys
    (stem -> columns; c_l = alpha_l * c_l(prev) + Level_l(fusion))."""

    def up(t, prefix, ratio):
        t = t.permute(0, 2, 3, 1)
        t = F.linear(t, sd[prefix + '0.weight'], sd[prefix + '0.bias'])
        t = F.layer_norm(t, (t.shape[-1], ), sd[prefix + '1.weight'],
                         sd[prefix + '1.bias'], 1e-6).permute(0, 3, 1, 2)
        return F.interpolate(t, scale_factor=2**ratio, mode='nearest')

    x = F.conv2d(x, sd['stem.0.weight'], sd['stem.0.bias'], stride=4)
    x = _ln_cf(x, sd['stem.1.weight'], sd['stem.1.bias'])
    prev = [0., 0., 0., 0.]
    for j in range(settings['num_columns']):
        new = []
        for lvl in range(4):
            p = f'subnet{j}.level{lvl}.'
            if lvl == 0:
                h = x
            else:
                h = F.conv2d(new[lvl - 1], sd[p + 'fusion.down.0.weight'],
                             sd[p + 'fusion.down.0.bias'], stride=2)
                h = _ln_cf(h, sd[p + 'fusion.down.1.weight'],
                           sd[p + 'fusion.down.1.bias'])
            if j > 0 and lvl < 3:
                h = h + up(prev[lvl + 1], p + 'fusion.up.channel_reschedule.',
                           1)
            if j > 0 and lvl == 0 and settings.get('fuse_top'):
                h = h + up(prev[3], p + 'fusion.up2.channel_reschedule.', 3)
            for k in range(settings['depths'][lvl]):
                b = f'{p}blocks.{k}.'
                w = sd[b + 'dwconv.weight']
                y = F.conv2d(h, w, sd[b + 'dwconv.bias'],
                             padding=w.shape[-1] // 2, groups=w.shape[0])
                y = y.permute(0, 2, 3, 1)
                y = F.layer_norm(y, (y.shape[-1], ), sd[b + 'norm.weight'],
                                 sd[b + 'norm.bias'], 1e-6)
                y = F.linear(F.gelu(F.linear(y, sd[b + 'pwconv1.weight'],
                                             sd[b + 'pwconv1.bias'])),
                             sd[b + 'pwconv2.weight'], sd[b + 'pwconv2.bias'])
                h = h + (sd[b + 'gamma'] * y).permute(0, 3, 1, 2)
            alpha = sd[f'subnet{j}.alpha{lvl}']
            alpha = torch.where(alpha < 0, -1.0, 1.0) * alpha.abs().clamp(
                min=1e-3)
            new.append(alpha * prev[lvl] + h)
        prev = new
    return prev


def files_snapshot(folder):
    snap = {}
    for name in sorted(os.listdir(folder)):
        path = osp.join(folder, name)
        with open(path, 'rb') as f:
            snap[name] = (hashlib.sha256(f.read()).hexdigest(),
                          os.stat(path).st_mtime_ns)
    return snap


def load_converted(path, settings, kernel_size=3, **kwargs):
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    assert set(ckpt) == {'state_dict', 'meta'}
    sd = {k[len('backbone.'):]: v for k, v in ckpt['state_dict'].items()}
    assert all(k.startswith('backbone.') for k in ckpt['state_dict'])
    model = RevCol(dict(settings), kernel_size=kernel_size, **kwargs)
    result = model.load_state_dict(sd, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return model.eval(), ckpt['meta']


_MARKS = []


def _mark(value):
    _MARKS.append(value)
    return value


class NotWeights:
    """An object that would run ``_mark`` if it were unpickled for real (as
    a training config object in an official checkpoint could)."""

    def __reduce__(self):
        return (_mark, ('code from the checkpoint ran', ))


def _layouts(sd):
    return {
        'raw': sd,
        'model+config': {'model': sd, 'epoch': 299, 'config': NotWeights()},
        'state_dict_ema': {'state_dict_ema': sd, 'max_accuracy': 82.2},
        'module.': {'state_dict': OrderedDict(
            ('module.' + k, v) for k, v in sd.items())},
        'backbone.+neck': {'state_dict': OrderedDict(
            [('backbone.' + k, v) for k, v in sd.items()] +
            [('neck.lateral_convs.0.conv.weight', torch.zeros(4, 4, 1, 1)),
             ('rpn_head.rpn_conv.bias', torch.zeros(4))])},
        'module.backbone.': {'model': OrderedDict(
            ('module.backbone.' + k, v) for k, v in sd.items())},
    }


# -------------------------------------------------------------------- tests
@pytest.mark.parametrize('layout', list(_layouts({})))
def test_every_official_layout_converts_and_loads_strictly(tmp_path, layout):
    model, sd = make_official()
    src, dst = tmp_path / 'official.pth', tmp_path / 'out' / 'mm.pth'
    torch.save(_layouts(sd)[layout], src)
    _MARKS.clear()
    report = convert_checkpoint(str(src), str(dst))
    assert not _MARKS  # nothing from the file was executed
    loaded, meta = load_converted(dst, TINY)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value,
                                   rtol=0, atol=0)
    assert report.source_layout == 'official'
    assert report.arch_inferred and report.arch['channels'] == (8, 16, 24, 32)
    assert meta['arch'] == dict(channels=[8, 16, 24, 32], depths=[1, 1, 2, 1],
                                num_columns=3, fuse_top=False)
    assert meta['kernel_size'] == 3 and meta['seed'] == 0
    assert meta['source'] == osp.abspath(src)
    # the heads and the first-column alphas are dropped, by group
    for _, group in HEAD_GROUPS:
        assert len(report.dropped[group]) >= 1
    assert len(report.dropped[GROUP_FIRST_ALPHA]) == 4
    if layout == 'backbone.+neck':
        assert sorted(report.dropped[GROUP_OUTSIDE]) == [
            'neck.lateral_convs.0.conv.weight', 'rpn_head.rpn_conv.bias']
    if layout == 'model+config':
        assert report.ignored_entries == ['config', 'epoch']
        assert report.placeholders == [f'{__name__}._mark']
    n_backbone = len(model.state_dict())
    assert len(report.kept) == 4  # stem conv + norm
    assert len(report.kept) + len(report.renamed) == n_backbone


@pytest.mark.parametrize('settings', [TINY, TINY_H])
def test_converted_model_computes_the_official_forward(tmp_path, settings):
    _, sd = make_official(settings)
    torch.save({'model': sd}, tmp_path / 'src.pth')
    report = convert_checkpoint(str(tmp_path / 'src.pth'),
                                str(tmp_path / 'dst.pth'))
    assert report.arch_settings['fuse_top'] is settings.get('fuse_top', False)
    model, _ = load_converted(tmp_path / 'dst.pth', settings)
    if settings.get('fuse_top'):
        assert hasattr(model.columns[1].levels[0], 'up2')
    model = model.double()
    x = torch.randn(2, 3, 64, 96, dtype=torch.float64)
    ref = official_forward({k: v.double() for k, v in sd.items()}, x,
                           settings)
    with torch.no_grad():
        outs = model(x)
    for out, expected in zip(outs, ref):
        torch.testing.assert_close(out, expected)


def test_state_dict_key_choice_and_checkpoint_key(tmp_path):
    _, sd = make_official()
    ema = OrderedDict((k, v + 1) for k, v in sd.items())
    both = {'model': sd, 'state_dict_ema': ema}
    state, key, ignored = find_state_dict(both)
    assert key == 'model' and ignored == ['state_dict_ema']
    assert find_state_dict(both, 'state_dict_ema')[0] is ema
    with pytest.raises(ConversionError, match="'nope' not found"):
        find_state_dict(both, 'nope')
    torch.save(both, tmp_path / 'src.pth')
    convert_checkpoint(str(tmp_path / 'src.pth'), str(tmp_path / 'dst.pth'),
                       checkpoint_key='state_dict_ema')
    ckpt = torch.load(tmp_path / 'dst.pth', weights_only=True)
    torch.testing.assert_close(ckpt['state_dict']['backbone.stem.0.weight'],
                               sd['stem.0.weight'] + 1)
    assert ckpt['meta']['source_key'] == 'state_dict_ema'


def test_pad_depthwise_kernel_keeps_centre_and_draws_new_taps():
    w = torch.randn(6, 1, 3, 3)
    gen = torch.Generator().manual_seed(0)
    p = pad_depthwise_kernel(w, 7, std=1.0, generator=gen)
    assert p.shape == (6, 1, 7, 7)
    assert torch.equal(p[..., 2:5, 2:5], w)
    mask = torch.ones(7, 7, dtype=torch.bool)
    mask[2:5, 2:5] = False
    new = p[..., mask]
    assert new.abs().min() > 0 and 0.7 < new.std() < 1.3
    again = pad_depthwise_kernel(w, 7, 1.0, torch.Generator().manual_seed(0))
    other = pad_depthwise_kernel(w, 7, 1.0, torch.Generator().manual_seed(1))
    assert torch.equal(p, again) and not torch.equal(p, other)
    zeros = pad_depthwise_kernel(w, 13, std=0.)
    assert torch.equal(zeros[..., 5:8, 5:8], w)
    zeros[..., 5:8, 5:8] = 0
    assert not zeros.any()
    assert pad_depthwise_kernel(w, 3) is w
    half = pad_depthwise_kernel(w.half(), 5, 1e-7, gen)
    assert half.dtype == torch.float16
    for bad in (4, 1):
        with pytest.raises(ConversionError, match='odd and >= 3'):
            pad_depthwise_kernel(w, bad)


def test_zero_std_padding_gives_identical_outputs(tmp_path):
    model, sd = make_official()
    torch.save(sd, tmp_path / 'src.pth')
    report = convert_checkpoint(str(tmp_path / 'src.pth'),
                                str(tmp_path / 'k7.pth'), kernel_size=7,
                                std=0.)
    n_blocks = sum(TINY['depths']) * TINY['num_columns']
    assert len(report.padded) == n_blocks
    padded, meta = load_converted(tmp_path / 'k7.pth', TINY, kernel_size=7)
    assert meta['kernel_size'] == 7 and meta['source_kernel_size'] == 3
    assert meta['pad_std'] == 0.
    x = torch.randn(2, 3, 96, 64, dtype=torch.float64)
    with torch.no_grad():
        a = model.double()(x)
        b = padded.double()(x)
    for fa, fb in zip(a, b):
        torch.testing.assert_close(fb, fa, rtol=1e-12, atol=1e-12)


def test_small_std_padding_stays_within_1e4(tmp_path):
    model, sd = make_official(std=0.1)
    torch.save({'model': sd}, tmp_path / 'src.pth')
    convert_checkpoint(str(tmp_path / 'src.pth'), str(tmp_path / 'k13.pth'),
                       kernel_size=13, std=1e-7, seed=3)
    padded, meta = load_converted(tmp_path / 'k13.pth', TINY,
                                  kernel_size=13)
    assert meta['seed'] == 3 and meta['pad_std'] == 1e-7
    w = padded.columns[1].levels[2].blocks[0].depthwise_conv.weight
    outer = w[..., 0, :]
    assert outer.abs().max() > 0 and outer.abs().max() < 1e-6
    x = torch.randn(1, 3, 128, 96)
    with torch.no_grad():
        a, b = model(x), padded(x)
    diff = max((fa - fb).abs().max().item() for fa, fb in zip(a, b))
    assert 0 < diff < 1e-4
    # the seed makes the padding reproducible
    convert_checkpoint(str(tmp_path / 'src.pth'), str(tmp_path / 'again.pth'),
                       kernel_size=13, std=1e-7, seed=3)
    again = torch.load(tmp_path / 'again.pth', weights_only=True)
    first = torch.load(tmp_path / 'k13.pth', weights_only=True)
    for key, value in first['state_dict'].items():
        assert torch.equal(value, again['state_dict'][key])


@pytest.mark.parametrize('arch', RevCol.arch_names)
def test_arch_inferred_from_shapes(arch):
    with torch.device('meta'):
        model = RevCol(arch)
    settings = RevCol.parse_arch(arch)
    sd = to_official(model.state_dict(), settings)
    out, report = convert_state_dict(sd)
    assert report.arch == arch and report.arch_inferred
    assert 'inferred from the weight shapes' in report.summary()
    assert set(out) == set(model.state_dict())
    _, given = convert_state_dict(sd, arch=arch)
    assert not given.arch_inferred


def test_mmrevcol_checkpoints_and_repadding(tmp_path):
    model = randomize_(RevCol(dict(TINY), out_norms=True, out_indices=(1, 3)))
    runner_ckpt = {
        'meta': {'epoch': 3},
        'state_dict': OrderedDict(
            [('backbone.' + k, v) for k, v in model.state_dict().items()] +
            [('decode_head.conv_seg.weight', torch.zeros(2, 4, 1, 1)),
             ('data_preprocessor.mean', torch.zeros(3))]),
        'message_hub': {'log_scalars': {}},
    }
    torch.save(runner_ckpt, tmp_path / 'runner.pth')
    report = convert_checkpoint(str(tmp_path / 'runner.pth'),
                                str(tmp_path / 'k7.pth'), kernel_size=7,
                                std=0.)
    assert report.source_layout == 'mmrevcol' and not report.renamed
    assert sorted(report.dropped[GROUP_OUTSIDE]) == [
        'data_preprocessor.mean', 'decode_head.conv_seg.weight']
    k7, _ = load_converted(tmp_path / 'k7.pth', TINY, kernel_size=7,
                           out_norms=True, out_indices=(1, 3))
    # the converter's own output converts again (7 -> 13)
    report = convert_checkpoint(str(tmp_path / 'k7.pth'),
                                str(tmp_path / 'k13.pth'), kernel_size=13,
                                std=0.)
    assert report.source_kernel_size == 7 and len(report.padded) == 15
    k13, _ = load_converted(tmp_path / 'k13.pth', TINY, kernel_size=13,
                            out_norms=True, out_indices=(1, 3))
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        for a, b in zip(k7.double()(x), k13.double()(x)):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_converted_file_loads_through_pretrained_init_cfg(tmp_path):
    model, sd = make_official()
    torch.save({'model': sd}, tmp_path / 'src.pth')
    convert_checkpoint(str(tmp_path / 'src.pth'), str(tmp_path / 'mm.pth'))
    fresh = RevCol(dict(TINY), init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'mm.pth'),
        prefix='backbone.'))
    fresh.init_weights()
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key


def test_report_lists_groups_and_progress_bar(tmp_path, capsys):
    _, sd = make_official()
    torch.save({'model': sd, 'config': NotWeights()}, tmp_path / 'src.pth')
    report = convert_checkpoint(str(tmp_path / 'src.pth'),
                                str(tmp_path / 'dst.pth'), kernel_size=5,
                                progress=True)
    out = capsys.readouterr().out
    assert 'elapsed' in out  # mmengine progress bar
    text = report.summary()
    n_blocks = sum(TINY['depths']) * TINY['num_columns']
    assert 'layout: official' in text and "under 'model'" in text
    assert 'arch: custom (inferred from the weight shapes)' in text
    assert f'padded: {n_blocks} depthwise kernels 3x3 -> 5x5' in text
    assert 'kept: 4 keys' in text
    assert re.search(r'renamed: \d+ keys \(e\.g\. subnet', text)
    assert 'dropped: 8 keys' in text  # 4 alphas + 4 head keys
    assert 'classification head (cls.*): 2' in text
    assert 'top-level entries ignored: config' in text
    assert f'{__name__}._mark' in text


# ------------------------------------------------------------------ errors
@pytest.fixture
def workdir(tmp_path):
    _, sd = make_official()
    torch.save({'model': sd}, tmp_path / 'src.pth')
    return tmp_path


def _assert_untouched(folder, before):
    assert files_snapshot(folder) == before


@pytest.mark.parametrize('kwargs,match', [
    (dict(kernel_size=4), 'kernel-size must be an odd int'),
    (dict(kernel_size=0), 'kernel-size must be an odd int'),
    (dict(kernel_size=1), 'smaller than the checkpoint kernels'),
    (dict(std=-1.0), 'std must be a finite number >= 0'),
    (dict(std=float('nan')), 'std must be a finite number >= 0'),
    (dict(seed=-2), 'seed must be an int >= 0'),
    (dict(arch='tiny'), "--arch 'tiny' does not match the checkpoint"),
    (dict(arch='giant'), "arch 'giant' is not one of"),
    (dict(checkpoint_key='ema'), "checkpoint key 'ema' not found"),
])
def test_bad_options_leave_files_untouched(workdir, kwargs, match):
    before = files_snapshot(workdir)
    with pytest.raises(ConversionError, match=match):
        convert_checkpoint(str(workdir / 'src.pth'),
                           str(workdir / 'dst.pth'), **kwargs)
    _assert_untouched(workdir, before)


def test_unknown_keys_are_an_error_unless_allowed(workdir):
    sd = torch.load(workdir / 'src.pth', weights_only=True)['model']
    sd['subnet1.level0.fusion.extra.weight'] = torch.zeros(3)
    sd['projector.weight'] = torch.zeros(3)
    sd['subnet0.level0.fusion.down.0.weight'] = torch.zeros(3)  # no down
    torch.save({'model': sd}, workdir / 'odd.pth')
    before = files_snapshot(workdir)
    with pytest.raises(ConversionError) as err:
        convert_checkpoint(str(workdir / 'odd.pth'), str(workdir / 'dst.pth'))
    for key in ('subnet1.level0.fusion.extra.weight', 'projector.weight',
                'subnet0.level0.fusion.down.0.weight'):
        assert key in str(err.value)
    assert '--allow-unknown' in str(err.value)
    _assert_untouched(workdir, before)
    report = convert_checkpoint(str(workdir / 'odd.pth'),
                                str(workdir / 'dst.pth'), allow_unknown=True)
    assert sorted(report.dropped[GROUP_UNKNOWN]) == [
        'projector.weight', 'subnet0.level0.fusion.down.0.weight',
        'subnet1.level0.fusion.extra.weight']
    load_converted(workdir / 'dst.pth', TINY)


def test_missing_and_truncated_files(workdir):
    before = files_snapshot(workdir)
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        convert_checkpoint(str(workdir / 'nothing.pth'),
                           str(workdir / 'dst.pth'))
    _assert_untouched(workdir, before)
    data = (workdir / 'src.pth').read_bytes()
    (workdir / 'cut.pth').write_bytes(data[:len(data) // 2])
    (workdir / 'junk.pth').write_bytes(b'not a checkpoint at all')
    before = files_snapshot(workdir)
    for name in ('cut.pth', 'junk.pth'):
        with pytest.raises(ConversionError,
                           match=f'cannot read checkpoint .*{name}.*'
                           'truncated or not a PyTorch checkpoint'):
            convert_checkpoint(str(workdir / name), str(workdir / 'dst.pth'))
    _assert_untouched(workdir, before)


def test_incomplete_checkpoint_is_an_error(workdir):
    sd = torch.load(workdir / 'src.pth', weights_only=True)['model']
    del sd['subnet2.level2.blocks.1.pwconv2.weight']
    del sd['subnet1.alpha3']
    torch.save(sd, workdir / 'part.pth')
    before = files_snapshot(workdir)
    with pytest.raises(ConversionError, match='lacks 2 parameters') as err:
        convert_checkpoint(str(workdir / 'part.pth'), str(workdir / 'o.pth'))
    assert 'columns.2.levels.2.blocks.1.mlp.layers.1.weight' in str(err.value)
    assert 'columns.1.gamma3' in str(err.value)
    _assert_untouched(workdir, before)
    torch.save({'model': {'something.else': torch.zeros(1)}},
               workdir / 'other.pth')
    with pytest.raises(ConversionError, match='no RevCol backbone keys'):
        convert_checkpoint(str(workdir / 'other.pth'), str(workdir / 'o.pth'))
    torch.save(torch.zeros(3), workdir / 'tensor.pth')
    with pytest.raises(ConversionError, match='not a dict'):
        convert_checkpoint(str(workdir / 'tensor.pth'),
                           str(workdir / 'o.pth'))


def test_existing_destination_and_source_protection(workdir):
    (workdir / 'dst.pth').write_bytes(b'keep me')
    before = files_snapshot(workdir)
    with pytest.raises(ConversionError, match='already exists.*--force'):
        convert_checkpoint(str(workdir / 'src.pth'), str(workdir / 'dst.pth'))
    _assert_untouched(workdir, before)
    for dst in ('src.pth', './src.pth'):
        with pytest.raises(ConversionError, match='is the source checkpoint'):
            convert_checkpoint(str(workdir / 'src.pth'), str(workdir / dst),
                               force=True)
    os.link(workdir / 'src.pth', workdir / 'hardlink.pth')
    before = files_snapshot(workdir)
    with pytest.raises(ConversionError, match='is the source checkpoint'):
        convert_checkpoint(str(workdir / 'src.pth'),
                           str(workdir / 'hardlink.pth'), force=True)
    _assert_untouched(workdir, before)
    convert_checkpoint(str(workdir / 'src.pth'), str(workdir / 'dst.pth'),
                       force=True)
    load_converted(workdir / 'dst.pth', TINY)
    assert sorted(os.listdir(workdir)) == ['dst.pth', 'hardlink.pth',
                                           'src.pth']  # no temp files left


def _cli():
    path = osp.join(ROOT, 'tools', 'model_converters', 'revcol_converter.py')
    spec = importlib.util.spec_from_file_location('revcol_converter_cli',
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli(workdir, capsys):
    cli = _cli()
    rc = cli.main([str(workdir / 'src.pth'), str(workdir / 'dst.pth'),
                   '--kernel-size', '7', '--seed', '5', '--no-progress'])
    out = capsys.readouterr().out
    assert rc == 0 and 'padded: 15 depthwise kernels 3x3 -> 7x7' in out
    assert torch.load(workdir / 'dst.pth',
                      weights_only=True)['meta']['seed'] == 5
    before = files_snapshot(workdir)
    rc = cli.main([str(workdir / 'src.pth'), str(workdir / 'dst.pth')])
    err = capsys.readouterr().err
    assert rc == 1 and 'already exists' in err and err.startswith('error:')
    rc = cli.main([str(workdir / 'src.pth'), str(workdir / 'x.pth'),
                   '--kernel-size', '6'])
    assert rc == 1 and 'odd' in capsys.readouterr().err
    _assert_untouched(workdir, before)


def test_cli_runs_as_a_script(workdir):
    import subprocess
    import sys
    script = osp.join(ROOT, 'tools', 'model_converters',
                      'revcol_converter.py')
    done = subprocess.run(
        [sys.executable, script, str(workdir / 'src.pth'),
         str(workdir / 'dst.pth'), '--kernel-size', '13', '--std', '0'],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert 'arch: custom (inferred from the weight shapes)' in done.stdout
    assert 'elapsed' in done.stdout  # progress bar on by default
    load_converted(workdir / 'dst.pth', TINY, kernel_size=13)
    again = subprocess.run(
        [sys.executable, script, str(workdir / 'src.pth'),
         str(workdir / 'src.pth')], capture_output=True, text=True,
        timeout=120)
    assert again.returncode == 1
    assert 'is the source checkpoint' in again.stderr
