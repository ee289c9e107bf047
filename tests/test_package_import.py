"""`import upertool` is light: no runner, no optional libraries, no converters (fresh interpreters).

Each check runs in a new interpreter, since this test process has imported everything already.
The heavy modules are the ones that cost seconds and tens of MiB at import: mmengine's runner
and optimizers (which import transformers when it is installed), timm, torchvision, and the
offline converters.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CONFIG = (Path(__file__).resolve().parents[1] / 'configs' / 'quickstart'
          / 'upernet_r18-narrow_1xb8-2.4k_synthetic-96x96.py')
HEAVY = ('mmengine.runner', 'mmengine.optim', 'transformers', 'timm', 'torchvision',
         'upertool.convert', 'upertool.engine')
REPORT = f'print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))'


def _loaded_after(code: str) -> list[str]:
    result = subprocess.run([sys.executable, '-c', f'import json, sys\n{code}\n{REPORT}'],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_upertool_loads_no_heavy_module():
    assert _loaded_after('import upertool\nimport upertool.registry') == []


def test_building_a_model_for_inference_loads_neither_runner_nor_optional_libraries():
    code = (f'from mmengine.config import Config\nfrom upertool.registry import MODELS\n'
            f'model = MODELS.build(Config.fromfile({str(CONFIG)!r}).model).eval()\n'
            'assert type(model).__name__ == "EncoderDecoder"')
    # mmengine.model imports mmengine.optim itself (every BaseModule does); what is avoided is
    # the runner, transformers (which mmengine.optim would import), timm, torchvision, the
    # converters and upertool's engine.
    assert _loaded_after(code) == ['mmengine.optim']


def test_the_report_sees_a_heavy_module():
    # The checks above would pass vacuously if the report could not see imports.
    assert 'upertool.convert' in _loaded_after('import upertool\nimport upertool.convert')
