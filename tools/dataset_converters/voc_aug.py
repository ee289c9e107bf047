"""Pascal VOC augmented set: SBD cls/*.mat -> VOC2012/SegmentationClassAug/*.png, plus
ImageSets/Segmentation/{aug,trainaug}.txt (needs scipy: pip install "upertool[data]").

    python tools/dataset_converters/voc_aug.py data/VOCdevkit data/VOCdevkit/VOCaug --nproc 8
"""
import argparse
import sys

from upertool.datasets.converters import convert_voc_aug


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('devkit_path', help='VOCdevkit folder (holding VOC2012/)')
    parser.add_argument('aug_path', help='unpacked SBD folder (holding dataset/cls/)')
    parser.add_argument('-o', '--out_dir', '--out-dir', dest='out_dir',
                        help='mask folder (default VOC2012/SegmentationClassAug)')
    parser.add_argument('--nproc', type=int, default=1, help='worker processes')
    parser.add_argument('--log-every', type=int, default=500, help='progress line interval')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    convert_voc_aug(args.devkit_path, args.aug_path, args.out_dir, nproc=args.nproc,
                    log=lambda msg: print(msg, flush=True), log_every=args.log_every)


if __name__ == '__main__':
    sys.exit(main())
