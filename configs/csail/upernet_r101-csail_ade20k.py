# mit-semseg's encoder 'resnet101' + decoder 'upernet' (see upernet_r50-csail_ade20k.py).
_base_ = './upernet_r50-csail_ade20k.py'
model = dict(backbone=dict(depth=101))
