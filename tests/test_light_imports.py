"""The base install never imports the heavy libraries of the train extra: the CLI, `casework serve`
(any engine), `run --model-path` and `export --format tau3` work without torch & co. loaded."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "trl", "peft", "gguf", "datasets", "gymnasium", "vllm")


def test_cli_and_the_serving_and_export_modules_load_no_heavy_library():
    code = (
        "import sys, json\n"
        "import casework.cli, casework.cli.serve, casework.cli.run, casework.cli.train\n"
        "import casework.llm.local, casework.llm.vllm_server, casework.runs.endpoints\n"
        "import casework.train.export, casework.train.tau3_export, casework.train.bench\n"
        f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
