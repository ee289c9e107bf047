"""Convert checkpoints between upertool, Hugging Face, mmsegmentation and classification libs.

    python tools/convert_checkpoint.py hf-to-upertool HF_DIR OUT_DIR
    python tools/convert_checkpoint.py upertool-to-hf CONFIG CKPT OUT_DIR
    python tools/convert_checkpoint.py mmseg-to-upertool CKPT OUT [--config CONFIG]
    python tools/convert_checkpoint.py backbone SRC OUT --from timm --to ResNetV1c/50
    python tools/convert_checkpoint.py csail-to-upertool ENCODER DECODER OUT [--config CONFIG]

Every input is read with the safe loader, nothing is downloaded, and a conversion that leaves
keys unmapped, missing or of the wrong shape writes nothing unless --allow-partial.
"""
import argparse
import sys

from upertool.convert import commands
from upertool.convert.key_rules import ConversionError


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    hf = sub.add_parser('hf-to-upertool', help='HF UperNetForSemanticSegmentation folder -> '
                        'OUT_DIR/config.py + OUT_DIR/model.pth')
    hf.add_argument('hf_dir', help='local folder with config.json and model.safetensors or '
                    'pytorch_model.bin')
    hf.add_argument('out_dir')
    to_hf = sub.add_parser('upertool-to-hf', help='upertool config + checkpoint -> HF folder')
    to_hf.add_argument('config')
    to_hf.add_argument('checkpoint')
    to_hf.add_argument('out_dir')
    mmseg = sub.add_parser('mmseg-to-upertool', help='mmsegmentation 0.x/1.x checkpoint -> '
                           'clean upertool checkpoint')
    mmseg.add_argument('checkpoint')
    mmseg.add_argument('out')
    mmseg.add_argument('--config', help='check the weights against this config\'s model')
    backbone = sub.add_parser('backbone', help='classification checkpoint -> backbone weights '
                              "for init_cfg=dict(type='Pretrained', checkpoint=OUT)")
    backbone.add_argument('src')
    backbone.add_argument('out')
    backbone.add_argument('--from', dest='source', required=True,
                          choices=['timm', 'torchvision', 'mmpretrain'])
    backbone.add_argument('--to', dest='target', required=True,
                          help='TYPE[/arch]: ResNet/50, ResNetV1c/50, ResNetV1d/101, '
                          'ConvNeXt/tiny, SwinTransformer/tiny')
    csail = sub.add_parser('csail-to-upertool', help="the UPerNet authors' encoder_epoch_*.pth "
                           '+ decoder_epoch_*.pth (mit-semseg, unifiedparsing) -> upertool '
                           'checkpoint (configs under configs/csail/, configs/upp/)')
    csail.add_argument('encoder')
    csail.add_argument('decoder')
    csail.add_argument('out')
    csail.add_argument('--config', help="check the weights against this config's model")
    for p in (hf, to_hf, mmseg, backbone, csail):
        p.add_argument('--allow-partial', action='store_true',
                       help='write the result even if keys are unmapped, missing or mismatched')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.command == 'hf-to-upertool':
            report = commands.hf_to_upertool_folder(args.hf_dir, args.out_dir, args.allow_partial)
            written = f'{args.out_dir}/config.py and {args.out_dir}/model.pth'
        elif args.command == 'upertool-to-hf':
            report = commands.upertool_to_hf_folder(args.config, args.checkpoint, args.out_dir,
                                                    args.allow_partial)
            written = args.out_dir
        elif args.command == 'mmseg-to-upertool':
            report = commands.mmseg_to_upertool_file(args.checkpoint, args.out, args.config,
                                                     args.allow_partial)
            written = args.out
        elif args.command == 'csail-to-upertool':
            report = commands.csail_to_upertool_file(args.encoder, args.decoder, args.out,
                                                     args.config, args.allow_partial)
            written = args.out
        else:
            report = commands.backbone_file(args.src, args.out, args.source, args.target,
                                            args.allow_partial)
            written = args.out
    except (ConversionError, OSError, ValueError, KeyError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(report.summary())
    if report.dropped:
        print(f'left out on purpose ({len(report.dropped)}): '
              + ', '.join(report.dropped[:6]) + (' ...' if len(report.dropped) > 6 else ''))
    print(f'wrote {written}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
