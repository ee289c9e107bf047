"""COCO-Stuff label maps with mmsegmentation's train ids (171 classes).

    # 164k: official stuff + thing JSONs (pycocotools), once per split
    python tools/dataset_converters/coco_stuff.py 164k \
        --stuff-json stuff_train2017.json --thing-json instances_train2017.json \
        --out-dir data/coco_stuff164k/annotations/train2017 --nproc 8
    # 10k: cocostuff-10k-v1.1 .mat files (needs scipy: pip install "upertool[data]")
    python tools/dataset_converters/coco_stuff.py 10k data/cocostuff-10k-v1.1 \
        -o data/coco_stuff10k --nproc 8
"""
import argparse
import sys

from upertool.datasets.converters import convert_coco_stuff_10k, convert_coco_stuff_164k


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n\n', 1)[1])
    sub = parser.add_subparsers(dest='variant', required=True)
    big = sub.add_parser('164k', help='from the stuff and thing annotation JSONs')
    big.add_argument('--stuff-json', required=True, help='e.g. stuff_train2017.json')
    big.add_argument('--thing-json', required=True, help='e.g. instances_train2017.json')
    big.add_argument('--out-dir', required=True, help='e.g. annotations/train2017')
    small = sub.add_parser('10k', help='from the cocostuff-10k-v1.1 .mat files')
    small.add_argument('coco_path', help='folder holding images/, annotations/, imageLists/')
    small.add_argument('-o', '--out_dir', '--out-dir', dest='out_dir',
                       help='output root (default: coco_path)')
    for p in (big, small):
        p.add_argument('--nproc', type=int, default=8, help='worker processes')
        p.add_argument('--log-every', type=int, default=500, help='progress line interval')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    if args.variant == '164k':
        convert_coco_stuff_164k(args.stuff_json, args.thing_json, args.out_dir,
                                nproc=args.nproc, log=log, log_every=args.log_every)
    else:
        convert_coco_stuff_10k(args.coco_path, args.out_dir, nproc=args.nproc, log=log,
                               log_every=args.log_every)


if __name__ == '__main__':
    sys.exit(main())
