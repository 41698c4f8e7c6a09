"""The generate, tasks stats and bench generate commands, end to end on the embedded database."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from casework.cli import app


def test_generate_stats_validate_and_bench(tmp_path):
    runner = CliRunner()
    out = tmp_path / "tasks.json"
    result = runner.invoke(app, ["generate", "--num-tasks", "40", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = json.loads(out.read_text())
    assert len(records) == 40 and {"task", "validation_report"} <= set(records[0])
    assert json.loads((tmp_path / "tasks.json.stats.json").read_text())["tasks"] == 40
    stats = runner.invoke(app, ["tasks", "stats", str(out)])
    assert stats.exit_code == 0 and "action-diversity entropy" in stats.output
    valid = runner.invoke(app, ["tasks", "validate", str(out), "--no-user-id-validation"])
    assert valid.exit_code == 0, valid.output
    bench = runner.invoke(app, ["bench", "generate", "-n", "100"])
    assert bench.exit_code == 0 and "validated tasks/s" in bench.output
    compare = runner.invoke(app, ["generate", "compare", "--seeds", "0,1", "-n", "30"])
    assert compare.exit_code == 0 and "seed 1" in compare.output
    # without a model the default compares the one available method across two seeds, and says so
    default = runner.invoke(app, ["generate", "compare", "-n", "10", "--seed", "4"])
    assert default.exit_code == 0, default.output
    assert (
        "direct and agentflow need --model" in default.output and "comparing seeds 4 and 5" in default.output
    )
    assert "templated (seed 4)" in default.output and "templated (seed 5)" in default.output


def test_generate_help_has_an_example():
    result = CliRunner().invoke(app, ["generate", "--help"])
    assert result.exit_code == 0
    assert "Example: casework generate -n 200 --seed 1 --out tasks.json" in result.output
    assert "rejected.jsonl" in result.output


def _fake_openai_server(reply: str):
    """A tiny OpenAI-compatible endpoint (non-streaming) that answers every chat with ``reply``."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.dumps(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "model": "fake",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_generate_direct_and_agentflow_through_the_cli_record_rejections(tmp_path):
    server = _fake_openai_server("I would rather not write JSON today.")
    models = tmp_path / "models.toml"
    models.write_text(
        f'[agent]\nmodel = "fake"\nbase_url = "http://127.0.0.1:{server.server_port}/v1"\n'
        "stream = false\nmax_retries = 0\n"
    )
    runner = CliRunner()
    try:
        for method in ("direct", "agentflow"):
            out = tmp_path / f"{method}.json"
            args = [
                "generate",
                "--method",
                method,
                "-n",
                "2",
                "--max-iterations",
                "2",
                "--models",
                str(models),
            ]
            result = runner.invoke(app, [*args, "--agentflow-turns", "2", "--out", str(out)])
            # fewer tasks than asked: exit 1, saying how many and why
            assert result.exit_code == 1, result.output
            assert "produced 0 of 2 tasks: 2 slots failed every attempt" in result.output
            assert f"{out}.rejected.jsonl" in result.output.replace("\n", "")
            stats = json.loads((tmp_path / f"{method}.json.stats.json").read_text())
            assert stats["pipeline"]["method"] == method and stats["pipeline"]["rejected"] == 2
            reasons = " ".join(stats["pipeline"]["failure_reasons"])
            assert ("unusable model output" if method == "direct" else "agentflow") in reasons
            assert len(stats["rejected_slots"]) == 2 and json.loads(out.read_text()) == []
            rejected = [
                json.loads(x) for x in (tmp_path / f"{method}.json.rejected.jsonl").read_text().splitlines()
            ]
            assert [(r["index"], r["iteration"], r["method"]) for r in rejected] == [
                (i, k, method) for i in range(2) for k in range(2)
            ]
            assert all(r["failures"] and r["failures"][0]["stage"] == "generation" for r in rejected)
            if method == "direct":
                assert all(r["raw"] == "I would rather not write JSON today." for r in rejected)
        # compare by default runs every method the domain supports when a model is given
        compare = runner.invoke(app, ["generate", "compare", "-n", "1", "--models", str(models)])
        assert compare.exit_code == 0, compare.output
        header = compare.output.splitlines()
        assert any(
            "templated (seed 0)" in h and "direct (seed 0)" in h and "agentflow (seed 0)" in h for h in header
        )
    finally:
        server.shutdown()


def test_generate_with_an_unreachable_endpoint_fails_cleanly(tmp_path):
    models = tmp_path / "models.toml"
    models.write_text('[agent]\nmodel = "fake"\nbase_url = "http://127.0.0.1:9/v1"\nmax_retries = 0\n')
    out = tmp_path / "tasks.json"
    result = CliRunner().invoke(
        app, ["generate", "--method", "direct", "-n", "1", "--models", str(models), "--out", str(out)]
    )
    assert result.exit_code == 2 and "model endpoint failed" in result.output
    assert "rerun to continue" in result.output
