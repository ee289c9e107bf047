"""EncoderDecoder is channels-last by default: same results as NCHW (channels_last=False)."""
import torch

from upertool.registry import MODELS


def tiny_upernet(**kwargs):
    torch.manual_seed(0)
    cfg = dict(
        type='EncoderDecoder',
        backbone=dict(type='ResNetV1c', depth=18, base_channels=8, stem_channels=8),
        decode_head=dict(type='UPerHead', channels=8, num_classes=4, dropout_ratio=0.0,
                         norm_cfg=dict(type='BN')),
        **kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def test_channels_last_model_matches_default_layout():
    nchw, last = tiny_upernet(channels_last=False), tiny_upernet()
    last.load_state_dict(nchw.state_dict())
    conv = last.backbone.stem[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert not nchw.backbone.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    images = torch.randn(2, 3, 40, 56)
    nchw.eval(), last.eval()
    with torch.no_grad():
        torch.testing.assert_close(last(images, mode='tensor'), nchw(images, mode='tensor'),
                                   rtol=1e-4, atol=1e-4)
    # one training step each from the same weights: same loss, same gradients
    nchw.train(), last.train()
    for model in (nchw, last):
        model.zero_grad()
        model(images, mode='tensor').square().mean().backward()
    for (name, p), q in zip(last.named_parameters(), nchw.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-3, atol=1e-5, msg=name)
