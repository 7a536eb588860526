import math

import pytest
import torch

from mmrevcol.models import RevColV2
from mmrevcol.models.backbones.revcolv2 import resize_pos_embed

from tests.helpers import TINY_V2


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize('arch,paper', [('base', 101e6), ('large', 342e6)])
def test_param_counts_match_paper_table1(arch, paper):
    with torch.device('meta'):
        model = RevColV2(arch)
    count = n_params(model)
    print(f'RevColV2-{arch}: {count / 1e6:.2f}M params (paper {paper / 1e6:.0f}M)')
    assert abs(count - paper) / paper < 0.05


@pytest.mark.parametrize('arch,paper', [('base', 88e6), ('large', 327e6)])
def test_classification_param_counts_match_paper_table2(arch, paper):
    with torch.device('meta'):
        model = RevColV2(arch, out_type='avg_featmap', out_indices=(3, ))
    count = n_params(model)
    print(f'RevColV2-{arch} (cls): {count / 1e6:.2f}M (paper {paper / 1e6:.0f}M)')
    assert abs(count - paper) / paper < 0.05
    # six blocks are never built: 3 + 2 + 1 levels of the last TD columns
    dims = model.embed_dims
    blocks = sum(len(c.levels[i].blocks) for c in model.columns
                 for i in c.order)
    full = RevColV2.arch_zoo[arch]
    assert blocks == (full['bu_columns'] * full['bu_depth'] +
                      full['td_columns'] * full['td_depth'] - 6)
    assert dims == full['embed_dims']


@pytest.mark.parametrize('hw', [(64, 64), (70, 45), (33, 97), (16, 16)])
def test_output_shapes_and_strides(hw):
    model = RevColV2(TINY_V2, img_size=64).eval()
    x = torch.randn(2, 3, *hw)
    with torch.no_grad():
        outs = model(x)
    assert len(outs) == 4
    for out, stride in zip(outs, (4, 8, 16, 32)):
        assert out.shape == (2, 32, math.ceil(hw[0] / stride),
                             math.ceil(hw[1] / stride))
        assert torch.isfinite(out).all()


def test_out_indices_extra_strides_and_custom_strides():
    model = RevColV2(TINY_V2, img_size=64, out_indices=(1, 3),
                     extra_strides=(64, )).eval()
    outs = model(torch.randn(1, 3, 128, 96))
    assert [tuple(o.shape[-2:]) for o in outs] == [(16, 12), (4, 3), (2, 2)]
    model = RevColV2(TINY_V2, img_size=64, out_strides=(16, 16, 16, 16))
    outs = model.eval()(torch.randn(1, 3, 64, 64))
    assert all(o.shape[-2:] == (4, 4) for o in outs)


def test_unpadded_region_matches_padded_input():
    """Outputs refer to the unpadded image: padding the input by hand to the
    patch multiple gives the same features on the image region."""
    model = RevColV2(TINY_V2, img_size=64).eval()
    x = torch.randn(1, 3, 60, 50)
    padded = torch.nn.functional.pad(x, (0, 14, 0, 4))
    with torch.no_grad():
        a = model(x)
        b = model(padded)
    for fa, fb in zip(a, b):
        h, w = fa.shape[-2:]
        torch.testing.assert_close(fa, fb[..., :h, :w])


def test_classification_output_and_pruning_equivalence():
    full = RevColV2(TINY_V2, img_size=64).eval()
    cls = RevColV2(TINY_V2, img_size=64, out_type='avg_featmap',
                   out_indices=(3, )).eval()
    missing, unexpected = cls.load_state_dict(full.state_dict(), strict=False)
    assert missing == []
    # weights of levels that are not built are skipped (their slots exist as
    # None); their shortcut scales and the dense output norms of levels 0-2
    # are reported unexpected
    assert sorted(unexpected) == sorted(
        ['columns.2.gamma0', 'columns.2.gamma1', 'columns.3.gamma0',
         'columns.3.gamma1',
         'columns.3.gamma2'] +
        [f'out_norm{i}.{p}' for i in range(3) for p in ('bias', 'weight')])
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        pooled = cls(x)[0]
        states_top = full(x)[3]
    assert pooled.shape == (2, 32)
    # the pruned network computes the same top level as the full one
    with torch.no_grad():
        expected = cls.out_norm3(_top_state(full, x).mean(dim=(1, 2)))
    torch.testing.assert_close(pooled, expected)
    assert states_top.shape[1] == 32


def _top_state(model, x):
    from mmrevcol.models import run_columns
    with torch.no_grad():
        return run_columns(model.stages(), model.embed(x))[3]


def test_pos_embed_resized_on_load_and_on_the_fly():
    small = RevColV2(TINY_V2, img_size=64)
    big = RevColV2(TINY_V2, img_size=128)
    state = small.state_dict()
    big.load_state_dict(state)
    assert big.pos_embed.shape == (1, 64, 32)
    expected = resize_pos_embed(state['pos_embed'], (4, 4), (8, 8))
    torch.testing.assert_close(big.pos_embed.data, expected)
    torch.testing.assert_close(
        big.td_pos_embed.data,
        resize_pos_embed(state['td_pos_embed'], (4, 4), (8, 8)))
    # identity resize is exact and other parameters load unchanged
    torch.testing.assert_close(
        resize_pos_embed(state['pos_embed'], (4, 4), (4, 4)),
        state['pos_embed'])
    torch.testing.assert_close(big.patch_embed.weight, small.patch_embed.weight)
    bad = {'pos_embed': torch.zeros(1, 15, 32)}
    with pytest.raises(ValueError, match='square token grids'):
        big.load_state_dict(bad, strict=False)


def test_frozen_stages():
    model = RevColV2(TINY_V2, img_size=64, frozen_stages=1)
    model.train()
    assert not model.patch_embed.weight.requires_grad
    assert not model.pos_embed.requires_grad
    assert all(not p.requires_grad for p in model.columns[0].parameters())
    assert all(p.requires_grad for p in model.columns[1].parameters())
    assert not model.columns[0].training and model.columns[1].training


def v2b_expected_depth(name):
    """The RevColV2-B depth rule written out by hand (3 BU columns of 12
    blocks, 3 per level; 3 TD columns of 4, 1 per level; D = 14)."""
    import re
    if name.startswith(('patch_embed', 'pos_embed')):
        return 0
    if name.startswith(('td_norm', 'td_pos_embed')):
        return 15
    m = re.match(r'columns\.(\d)\.(?:levels\.(\d)\.(?:blocks\.(\d+))?|'
                 r'gamma(\d))', name)
    if m is None:
        return 21  # out_norm*
    c = int(m.group(1))
    level = int(m.group(2) if m.group(2) is not None else m.group(4))
    k = int(m.group(3)) if m.group(3) is not None else 0
    if c < 3:  # bottom-up: c + k + 1, k counted from level 0
        return c + 3 * level + k + 1
    return 14 + (c - 3) + (3 - level) + k + 1  # top-down: level 3 first


@pytest.mark.parametrize('out_type', ['featmap', 'avg_featmap'])
def test_layer_depth_follows_the_data_path_v2b(out_type):
    with torch.device('meta'):
        model = RevColV2('base', out_type=out_type,
                         out_indices=(3, ) if out_type == 'avg_featmap' else
                         (0, 1, 2, 3))
    assert model.num_layers == 22  # full arch, also in classification mode
    names = [n for n, _ in model.named_parameters()]
    assert len(names) > 300
    for name in names:
        assert model.get_layer_depth('backbone.' + name, 'backbone.') == (
            v2b_expected_depth(name), 22), name
    depth = model.get_layer_depth
    spots = {
        'backbone.patch_embed.weight': 0,
        'backbone.columns.0.levels.0.blocks.0.attn.qkv.weight': 1,
        'backbone.columns.2.levels.3.blocks.2.mlp.layers.1.weight': 14,
        'backbone.td_norm.weight': 15,
        'backbone.td_pos_embed': 15,
        'backbone.columns.3.levels.3.blocks.0.norm1.weight': 15,
        'backbone.columns.3.levels.0.blocks.0.norm1.weight': 18,
        'backbone.columns.4.gamma2': 17,
        'backbone.columns.5.levels.3.norm_prev.weight': 17,
        'decode_head.conv_seg.weight': 21,
    }
    if out_type == 'featmap':
        spots.update({
            'backbone.columns.5.levels.1.proj_prev.weight': 19,
            'backbone.columns.5.levels.0.blocks.0.attn.proj.bias': 20,
            'backbone.out_norm0.weight': 21,
        })
    for name, d in spots.items():
        assert depth(name, 'backbone.') == (d, 22), name


def test_layer_depth_of_tiny_v2_and_decay_grows_toward_the_output():
    model = RevColV2(TINY_V2, img_size=64)  # D = 1 + 4 = 5
    depth = model.get_layer_depth
    assert model.num_layers == 5 + 1 + 4 + 2
    d = [[depth(f'columns.{c}.levels.{i}.blocks.0.attn.qkv.weight')[0]
          for i in range(4)] for c in range(4)]
    assert d == [[1, 2, 3, 4], [2, 3, 4, 5], [9, 8, 7, 6], [10, 9, 8, 7]]
    # along the data path (BU levels up, then TD levels down) depth grows
    assert depth('td_norm.weight')[0] == 6
    for name, _ in model.named_parameters():
        got, total = depth(name)
        assert 0 <= got < total == model.num_layers


@pytest.mark.parametrize('arch,match', [
    ('huge', "arch 'huge' is not one of"),
    (dict(TINY_V2, foo=1), r"unknown: \['foo'\]"),
    ({k: v for k, v in TINY_V2.items() if k != 'bu_depth'},
     r"missing: \['bu_depth'\]"),
    (dict(TINY_V2, bu_depth=6), r"arch\['bu_depth'\] must be divisible by 4"),
    (dict(TINY_V2, num_heads=3), 'must be divisible by'),
])
def test_bad_arch(arch, match):
    with pytest.raises(ValueError, match=match):
        RevColV2(arch)


@pytest.mark.parametrize('kwargs,match', [
    (dict(out_indices=(0, 4)), r'out_indices must hold level indices'),
    (dict(out_indices=(1, 1)), 'non-empty and unique'),
    (dict(out_type='pooled'), "out_type must be one of"),
    (dict(out_type='avg_featmap'), r'out_indices must be \(3,\)'),
    (dict(drop_path_rate=1.0), r'drop_path_rate must be a float in \[0, 1\)'),
    (dict(img_size=8), 'img_size must be'),
    (dict(global_attn_indexes=(5, ), window_size=4), 'global_attn_indexes'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RevColV2(TINY_V2, **kwargs)


def test_wrong_input_channels():
    model = RevColV2(TINY_V2, img_size=64)
    with pytest.raises(ValueError, match=r'in_channels=3.*\(2, 1, 32, 32\)'):
        model(torch.randn(2, 1, 32, 32))


def test_window_attention_equals_global_when_window_covers_image():
    glob = RevColV2(TINY_V2, img_size=64).eval()
    win = RevColV2(TINY_V2, img_size=64, window_size=8,
                   global_attn_indexes=()).eval()
    win.load_state_dict(glob.state_dict())
    x = torch.randn(1, 3, 96, 80)  # 6x5 tokens inside one 8x8 window
    with torch.no_grad():
        for a, b in zip(glob(x), win(x)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # with smaller windows the attention is really local (outputs differ)
    small = RevColV2(TINY_V2, img_size=64, window_size=2,
                     global_attn_indexes=()).eval()
    small.load_state_dict(glob.state_dict())
    with torch.no_grad():
        assert not torch.allclose(glob(x)[0], small(x)[0], atol=1e-4)


def test_init_cfg_pretrained_with_prefix_and_resize(tmp_path):
    src = RevColV2(TINY_V2, img_size=64)
    ckpt = tmp_path / 'seg.pth'
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in src.state_dict().items()}}, ckpt)
    dst = RevColV2(TINY_V2, img_size=96, init_cfg=dict(
        type='Pretrained', checkpoint=str(ckpt), prefix='backbone.'))
    dst.init_weights()
    torch.testing.assert_close(dst.columns[1].gamma0, src.columns[1].gamma0)
    torch.testing.assert_close(
        dst.pos_embed.data, resize_pos_embed(src.pos_embed.data, (4, 4),
                                             (6, 6)))
    # Pretrained without a checkpoint keeps the random init (configs ship it)
    keep = RevColV2(TINY_V2, img_size=64, init_cfg=dict(
        type='Pretrained', checkpoint=None, prefix='backbone.'))
    before = keep.pos_embed.detach().clone()
    keep.init_weights()
    torch.testing.assert_close(keep.pos_embed.data, before)
