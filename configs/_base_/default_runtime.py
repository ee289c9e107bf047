# Runtime defaults shared by every config (mmsegmentation 1.x layout).
default_scope = 'upertool'
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # 'nccl' on CUDA; upertool switches to 'gloo' where torch has no CUDA.
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
tta_model = dict(type='SegTTAModel')
# Nothing silent: checks of the model against the data before the first step, a NaN/inf loss
# or gradient stops training (policy='skip' drops such steps instead) and never reaches a
# checkpoint, and a bad sample met mid-training first saves the finished iterations.
# tools/train.py adds any of these a config leaves out.
custom_hooks = [
    dict(type='RunChecksHook'),
    dict(type='DivergenceGuardHook', policy='stop'),
    dict(type='DataErrorCheckpointHook'),
]
