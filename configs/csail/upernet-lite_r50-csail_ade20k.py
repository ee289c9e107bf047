# mit-semseg's decoder 'upernet_lite': fpn_dim 256 (the PPM stays 512 wide).
_base_ = './upernet_r50-csail_ade20k.py'
model = dict(decode_head=dict(channels=256))
