"""How tests/data/backbones_a68765b.pth was written (kept for the record;
do NOT re-run it to refresh the fixture: the point of the file is that it
comes from main at commit a68765b, and later code must still load it and give
the same outputs)."""
import torch
from mmrevcol.models import RevCol, RevColV2
torch.manual_seed(0)
v1 = RevCol(dict(channels=[4, 8, 8, 8], depths=[1, 1, 1, 1], num_columns=3), out_norms=True).eval()
v2 = RevColV2(dict(embed_dims=8, num_heads=2, mlp_ratio=2, bu_columns=2, bu_depth=4, td_columns=2, td_depth=4), img_size=32, patch_size=8).eval()
v2c = RevColV2(dict(embed_dims=8, num_heads=2, mlp_ratio=2, bu_columns=2, bu_depth=4, td_columns=2, td_depth=4), img_size=32, patch_size=8, out_type='avg_featmap', out_indices=(3,)).eval()
x1 = torch.randn(1, 3, 64, 64)
x2 = torch.randn(1, 3, 32, 32)
with torch.no_grad():
    out = dict(v1=[t.clone() for t in v1(x1)], v2=[t.clone() for t in v2(x2)], v2_cls=[t.clone() for t in v2c(x2)])
torch.save(dict(commit='a68765b',
                v1=dict(state_dict=v1.state_dict(), input=x1, outputs=out['v1']),
                v2=dict(state_dict=v2.state_dict(), input=x2, outputs=out['v2']),
                v2_cls=dict(state_dict=v2c.state_dict(), input=x2, outputs=out['v2_cls'])),
           'tests/data/backbones_a68765b.pth')
