"""Every public argument of RevCol / RevColV2 is checked: a bad value fails
with one error naming the argument, the value and what is allowed; inputs
too small for the network fail in forward with the size and the minimum."""
import pytest
import torch

from mmrevcol.models import RevCol, RevColV2
from tests.helpers import TINY_V2

V1_ARCH = dict(channels=[4, 8, 8, 8], depths=[1, 1, 1, 1], num_columns=2)

V1_CASES = [
    # (kwargs, error type, fragments of the message)
    (dict(arch='tinyy'), ValueError, ["arch 'tinyy'", "'tiny'"]),
    (dict(arch=3), TypeError, ['arch must be a str or a dict', 'int']),
    (dict(arch=dict(V1_ARCH, depths=[1, 1, 0, 1])), ValueError,
     ["arch['depths']", '[1, 1, 0, 1]', 'ints >= 1']),
    (dict(arch=dict(V1_ARCH, channels=[4, 8, 8])), ValueError,
     ["arch['channels']", '[4, 8, 8]', '4 ints']),
    (dict(arch=dict(V1_ARCH, num_columns=0)), ValueError,
     ["arch['num_columns']", '>= 1', '0']),
    (dict(arch=dict(V1_ARCH, heads=2)), ValueError, ["unknown: ['heads']"]),
    (dict(kernel_size=4), ValueError, ['kernel_size', 'odd', '4']),
    (dict(in_channels=0), ValueError, ['in_channels', '>= 1', '0']),
    (dict(out_indices=(0, 4)), ValueError, ['out_indices', '(0, 4)',
                                            '[0, 3]']),
    (dict(out_indices=(1, 1)), ValueError, ['out_indices', 'unique']),
    (dict(drop_path_rate=1.0), ValueError, ['drop_path_rate', '[0, 1)',
                                            '1.0']),
    (dict(drop_path_rate='0.1'), ValueError, ['drop_path_rate', "'0.1'"]),
    (dict(frozen_stages=3), ValueError, ['frozen_stages', '[-1, 2]', '3']),
    (dict(frozen_stages=True), ValueError, ['frozen_stages', 'True']),
    (dict(keep_states_every=0), ValueError, ['keep_states_every', '>= 1',
                                             '0']),
    (dict(reversible='yes'), TypeError, ['reversible', 'bool', "'yes'"]),
    (dict(out_norms=1), TypeError, ['out_norms', 'bool', '1']),
]

V2_CASES = [
    (dict(arch='huge'), ValueError, ["arch 'huge'", "'base'"]),
    (dict(arch=dict(TINY_V2, num_heads=3)), ValueError,
     ["arch['embed_dims'] 32", "arch['num_heads'] 3", 'divisible']),
    (dict(arch=dict(TINY_V2, bu_depth=6)), ValueError,
     ["arch['bu_depth']", 'divisible by 4', '6']),
    (dict(arch=dict(TINY_V2, td_columns=-1)), ValueError,
     ["arch['td_columns']", '>= 0', '-1']),
    (dict(arch=dict(TINY_V2, mlp_ratio=0)), ValueError,
     ["arch['mlp_ratio']", '> 0', '0']),
    (dict(img_size=4), ValueError, ['img_size', '>= patch_size 16', '4']),
    (dict(img_size=(32, '32')), ValueError, ['img_size', "(32, '32')"]),
    (dict(patch_size=0), ValueError, ['patch_size', '>= 1', '0']),
    (dict(in_channels=0), ValueError, ['in_channels', '>= 1', '0']),
    (dict(out_indices=(5, )), ValueError, ['out_indices', '(5,)']),
    (dict(out_strides=(4, 8, 16)), ValueError, ['out_strides', '4 ',
                                                '(4, 8, 16)']),
    (dict(out_strides=(4, 8, 16, '32')), ValueError,
     ['out_strides', "'32'", 'positive ints']),
    (dict(extra_strides=(0, )), ValueError, ['extra_strides', '(0,)',
                                             'positive ints']),
    (dict(out_type='pooled'), ValueError, ['out_type', "'pooled'",
                                           "'avg_featmap'"]),
    (dict(out_type='avg_featmap'), ValueError, ['out_indices must be (3,)']),
    (dict(mask_ratio=1.0), ValueError, ['mask_ratio', '[0, 1)', '1.0']),
    (dict(drop_path_rate=-0.1), ValueError, ['drop_path_rate', '[0, 1)',
                                             '-0.1']),
    (dict(drop_path_rate=None), ValueError, ['drop_path_rate', 'None']),
    (dict(window_size=-1), ValueError, ['window_size', '>= 0', '-1']),
    (dict(window_size=4, global_attn_indexes=(2, )), ValueError,
     ['global_attn_indexes', '(2,)', '1 blocks']),
    (dict(global_attn_indexes=('last', )), TypeError,
     ['global_attn_indexes', "('last',)", 'ints']),
    (dict(keep_states_every=1.5), ValueError, ['keep_states_every', '1.5']),
    (dict(frozen_stages=5), ValueError, ['frozen_stages', '[-1, 4]', '5']),
    (dict(norm_eps=0), ValueError, ['norm_eps', '> 0', '0']),
    (dict(reversible=None), TypeError, ['reversible', 'bool', 'None']),
]


def _ids(cases):
    return [f'{i}-' + ','.join(kw) for i, (kw, _, _) in enumerate(cases)]


@pytest.mark.parametrize('kwargs,error,fragments', V1_CASES,
                         ids=_ids(V1_CASES))
def test_revcol_arguments(kwargs, error, fragments):
    kwargs = {'arch': V1_ARCH, **kwargs}
    with pytest.raises(error) as info:
        RevCol(**kwargs)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


@pytest.mark.parametrize('kwargs,error,fragments', V2_CASES,
                         ids=_ids(V2_CASES))
def test_revcolv2_arguments(kwargs, error, fragments):
    kwargs = {'arch': TINY_V2, 'img_size': 32, **kwargs}
    with pytest.raises(error) as info:
        RevColV2(**kwargs)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_too_small_inputs():
    v1 = RevCol(V1_ARCH).eval()
    with pytest.raises(ValueError) as info:
        v1(torch.randn(1, 3, 31, 64))
    assert 'at least 32x32' in str(info.value)
    assert 'got 31x64' in str(info.value)
    v2 = RevColV2(TINY_V2, img_size=32, patch_size=8).eval()
    with pytest.raises(ValueError) as info:
        v2(torch.randn(1, 3, 8, 7))
    assert 'at least 8x8' in str(info.value)
    assert '8x7' in str(info.value)
    with torch.no_grad():  # one patch is enough
        outs = v2(torch.randn(1, 3, 8, 8))
    assert outs[0].shape == (1, 32, 2, 2)
