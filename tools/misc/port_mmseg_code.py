"""Port code and configs written for mmsegmentation 1.x to upertool.

    python tools/misc/port_mmseg_code.py PATH... [--dry-run]

Rewrites `mmseg` imports, `default_scope='mmseg'`, `type='mmseg.X'`, custom_imports of
`mmseg.*` and `mmseg::` config paths in every .py file under PATH, printing a unified diff;
`--dry-run` prints the diff and changes nothing. Names upertool does not provide are listed
with file and line instead of being rewritten silently. See docs/migration.md, "Porting your
mmsegmentation project".
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from upertool.utils.port_mmseg import OUT_OF_SCOPE, port_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('paths', nargs='+', type=Path, help='.py files or folders to port')
    parser.add_argument('--dry-run', action='store_true', help='print the diff, write nothing')
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        parser.error(f'no such file or folder: {", ".join(missing)}')
    try:
        results = port_files(args.paths)
    except ValueError as err:
        parser.error(str(err))
    changed = [r for r in results if r.changed]
    for result in changed:
        sys.stdout.write(result.diff())
        if not args.dry_run:
            result.path.write_text(result.new, encoding='utf-8')
    problems = [p for r in results for p in r.problems]
    verb = 'would change' if args.dry_run else 'changed'
    print(f'\n{len(results)} .py files read, {len(changed)} {verb}.')
    if problems:
        print(f'{len(problems)} names could not be mapped to upertool (fix these by hand):')
        for problem in problems:
            print(f'  {problem}')
    else:
        print('Every mmseg name found has an upertool counterpart.')
    print(f'Note: {OUT_OF_SCOPE}.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
