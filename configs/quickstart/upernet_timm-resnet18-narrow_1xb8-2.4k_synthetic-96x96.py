# The quickstart UPerNet with its backbone from timm (needs `pip install timm`): timm's
# resnet18 made as narrow as the quickstart's ResNet-18-V1c (deep 3x3 stem, widths 32..256),
# trained from scratch on the synthetic shapes set with the quickstart's schedule.
_base_ = ['./upernet_r18-narrow_1xb8-2.4k_synthetic-96x96.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='TIMMBackbone',
        model_name='resnet18',
        pretrained=False,
        out_indices=(1, 2, 3, 4),  # timm's level 0 is the stride-2 stem
        # passed to timm.create_model as they are
        stem_type='deep',
        stem_width=16,
        channels=(32, 64, 128, 256)))
