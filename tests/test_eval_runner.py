"""`evaluate_model` and `thinkact eval`: predictions are written beside the results, and
`thinkact score` on them reproduces the numbers; the OpenAI back-end is scored the same way."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from conftest import make_samples
from typer.testing import CliRunner

from thinkact.cli import app
from thinkact.evaluate.runner import evaluate_model
from thinkact.schema import write_jsonl

runner = CliRunner()


def test_evaluate_model_writes_predictions_and_scores(tiny_model_dir, tmp_path):
    samples = make_samples(6)
    scores = evaluate_model(tiny_model_dir, samples, out_dir=tmp_path / "ev", batch_size=4,
                            max_new_tokens=8)
    preds = [json.loads(line) for line in (tmp_path / "ev" / "predictions.jsonl").read_text().splitlines()]
    assert [p["id"] for p in preds] == [s.id for s in samples]
    assert all(isinstance(p["output"], str) for p in preds)
    assert json.loads((tmp_path / "ev" / "scores.json").read_text()) == scores
    assert scores["metrics"]["n_samples"] == 6 and set(scores["samples"]) == {s.id for s in samples}
    timing = json.loads((tmp_path / "ev" / "generation.json").read_text())
    assert timing["samples"] == 6 and timing["samples_per_s"] > 0


def test_cli_eval_then_score_reproduces(tiny_model_dir, tmp_path):
    data = tmp_path / "turns.jsonl"
    write_jsonl(data, make_samples(8))
    out = tmp_path / "run" / "results.json"
    r = runner.invoke(app, ["eval", "--model", str(tiny_model_dir), "--data", str(data), "--out", str(out),
                            "--batch-size", "3", "--max-new-tokens", "8", "--limit", "5", "--think", "required"])
    assert r.exit_code == 0, r.output
    results = json.loads(out.read_text())
    assert results["metrics"]["n_samples"] == 5 and results["settings"]["think"] == "required"
    pred = out.parent / "predictions.jsonl"
    assert len(pred.read_text().splitlines()) == 5
    rescored = tmp_path / "rescored.json"
    r = runner.invoke(app, ["score", "--gold", str(out.parent / "gold.jsonl"), "--pred", str(pred),
                            "--out", str(rescored), "--think", "required"])
    assert r.exit_code == 0, r.output
    assert json.loads(rescored.read_text()) == results


def test_cli_eval_bad_data_is_a_clear_error(tmp_path):
    data = tmp_path / "turns.jsonl"
    data.write_text('{"id": "x"}\n')
    r = runner.invoke(app, ["eval", "--model", "nowhere", "--data", str(data), "--out", str(tmp_path / "o.json")])
    assert r.exit_code == 1 and "line 1" in r.output


class _Oracle(BaseHTTPRequestHandler):
    """Answers what the shared fixture samples expect: look the order up, then say it shipped."""

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        last = body["messages"][-1]
        if last["role"] == "user":
            oid = re.search(r"W\d+", last["content"]).group()
            msg = {"role": "assistant", "content": None, "reasoning_content": f"look up {oid}",
                   "tool_calls": [{"id": "1", "type": "function", "function": {
                       "name": "get_order", "arguments": json.dumps({"order_id": oid})}}]}
        else:
            oid = json.loads(last["content"])["order_id"]
            msg = {"role": "assistant", "content": f"Your order {oid} has shipped.",
                   "reasoning_content": "it shipped"}
        data = json.dumps({"choices": [{"message": msg}]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture()
def oracle():
    server = HTTPServer(("127.0.0.1", 0), _Oracle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_cli_eval_openai_backend(oracle, tmp_path):
    data = tmp_path / "turns.jsonl"
    write_jsonl(data, make_samples(6))
    out = tmp_path / "res.json"
    r = runner.invoke(app, ["eval", "--backend", "openai", "--endpoint", oracle, "--model", "served",
                            "--data", str(data), "--out", str(out), "--think", "required"])
    assert r.exit_code == 0, r.output
    m = json.loads(out.read_text())["metrics"]
    assert m["turn_accuracy"] == 1.0 and m["exact_call_accuracy"] == 1.0 and m["format_validity"] == 1.0
    preds = [json.loads(x) for x in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert preds[0]["output"].startswith("<think>\nlook up W1000\n</think>")


def test_a_failed_evaluation_leaves_no_folder(tmp_path):
    class Broken:
        def generate(self, samples, advance):
            raise RuntimeError("the model fell over")

    with pytest.raises(RuntimeError, match="fell over"):
        evaluate_model("m", make_samples(2), out_dir=tmp_path / "ev", generator=Broken())
    assert not (tmp_path / "ev").exists()
