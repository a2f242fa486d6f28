"""`evaluate_model` and `thinkact eval`: predictions are written beside the results, named after
them, and `thinkact score` on them reproduces the numbers; the OpenAI back-end is scored the same
way."""

import json
import re
import socket
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import make_samples
from typer.testing import CliRunner

from thinkact.cli import app
from thinkact.evaluate.generation import OpenAIGenerator
from thinkact.evaluate.runner import evaluate_model
from thinkact.schema import DataError, write_jsonl

runner = CliRunner()


def test_evaluate_model_writes_predictions_and_scores(tiny_model_dir, tmp_path):
    samples = make_samples(6)
    scores = evaluate_model(tiny_model_dir, samples, out=tmp_path / "ev", batch_size=4,
                            max_new_tokens=8)
    preds = [json.loads(line) for line in (tmp_path / "ev" / "predictions.jsonl").read_text().splitlines()]
    assert [p["id"] for p in preds] == [s.id for s in samples]
    assert all(isinstance(p["output"], str) for p in preds)
    assert json.loads((tmp_path / "ev" / "scores.json").read_text()) == scores
    assert scores["metrics"]["n_samples"] == 6 and set(scores["samples"]) == {s.id for s in samples}
    timing = json.loads((tmp_path / "ev" / "generation.json").read_text())
    assert timing["samples"] == 6 and timing["samples_per_s"] > 0
    assert timing["decode_s"] > 0 and timing["new_tokens"] >= 0  # where the time went


def test_cli_eval_then_score_reproduces(tiny_model_dir, tmp_path):
    data = tmp_path / "turns.jsonl"
    write_jsonl(data, make_samples(8))
    out = tmp_path / "run" / "results.json"
    r = runner.invoke(app, ["eval", "--model", str(tiny_model_dir), "--data", str(data), "--out", str(out),
                            "--batch-size", "3", "--max-new-tokens", "8", "--limit", "5", "--think", "required"])
    assert r.exit_code == 0, r.output
    results = json.loads(out.read_text())
    assert results["metrics"]["n_samples"] == 5 and results["settings"]["think"] == "required"
    pred = out.parent / "results.predictions.jsonl"
    assert len(pred.read_text().splitlines()) == 5
    assert f"predictions -> {pred}" in r.output
    rescored = tmp_path / "rescored.json"
    r = runner.invoke(app, ["score", "--gold", str(out.parent / "results.gold.jsonl"), "--pred", str(pred),
                            "--out", str(rescored), "--think", "required"])
    assert r.exit_code == 0, r.output
    assert json.loads(rescored.read_text()) == results


def test_cli_eval_generates_where_models_run(tiny_model_dir, tmp_path, monkeypatch):
    """`thinkact eval` loads through thinkact.models, onto the device its rule picks."""
    from thinkact import models
    from thinkact.evaluate import generation

    devices = []

    class Recorder:
        def __init__(self, model, tokenizer, **kwargs):
            devices.append(next(model.parameters()).device.type)

        def generate(self, samples, advance=None):
            return [""] * len(samples)

    monkeypatch.setattr(models, "device", lambda: "meta")
    monkeypatch.setattr(generation, "HFGenerator", Recorder)
    data = tmp_path / "turns.jsonl"
    write_jsonl(data, make_samples(3))
    r = runner.invoke(app, ["eval", "--model", str(tiny_model_dir), "--data", str(data),
                            "--out", str(tmp_path / "s.json")])
    assert r.exit_code == 0, r.output
    assert devices == ["meta"]


def test_cli_eval_bad_data_is_a_clear_error(tmp_path):
    data = tmp_path / "turns.jsonl"
    data.write_text('{"id": "x"}\n')
    r = runner.invoke(app, ["eval", "--model", "nowhere", "--data", str(data), "--out", str(tmp_path / "o.json")])
    assert r.exit_code == 1 and "line 1" in r.output


def oracle_message(body: dict) -> dict:
    """What the shared fixture samples expect: look the order up, then say it shipped."""
    last = body["messages"][-1]
    if last["role"] == "user":
        oid = re.search(r"W\d+", last["content"]).group()
        return {"role": "assistant", "content": None, "reasoning_content": f"look up {oid}",
                "tool_calls": [{"id": "1", "type": "function", "function": {
                    "name": "get_order", "arguments": json.dumps({"order_id": oid})}}]}
    oid = json.loads(last["content"])["order_id"]
    return {"role": "assistant", "content": f"Your order {oid} has shipped.",
            "reasoning_content": "it shipped"}


class _Oracle(BaseHTTPRequestHandler):
    """Answers every sample right, serving the model "served" only. `faults` maps an order id
    (one per fixture sample) to what its first requests meet, in turn: "429" (Retry-After: 1),
    "500", "400", "404" (the model unknown), "drop" (the connection closed, no answer), "slow" (an answer later than the
    client waits), "malformed" (a cut JSON body). `asked` counts requests per order id, and
    `times` keeps when they came."""
    faults: dict = {}
    asked: Counter = Counter()
    times: dict = defaultdict(list)
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        oid = re.search(r"W\d+", json.dumps(body["messages"])).group()
        with self.lock:
            n = self.asked[oid]
            self.asked[oid] += 1
            self.times[oid].append(time.monotonic())
        plan = self.faults.get(oid, [])
        fault = plan[n] if n < len(plan) else None
        if body["model"] != "served" or fault == "404":
            self.reply(404, {"object": "error", "message": f"The model `{body['model']}` does not exist.",
                             "type": "NotFoundError", "code": 404})
        elif fault == "429":
            self.reply(429, {"error": {"message": "rate limited"}}, {"Retry-After": "1"})
        elif fault in ("500", "400"):
            self.reply(int(fault), {"error": {"message": f"fault {fault}"}})
        elif fault == "drop":
            self.close_connection = True
        elif fault == "malformed":
            self.reply(200, b'{"choices": [{"mess')
        else:
            if fault == "slow":
                time.sleep(0.8)
            self.reply(200, {"choices": [{"message": oracle_message(body)}]})

    def reply(self, status, body, headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up waiting (the slow answer)
            pass

    def log_message(self, *args):
        pass


@pytest.fixture()
def oracle():
    _Oracle.faults, _Oracle.asked, _Oracle.times = {}, Counter(), defaultdict(list)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Oracle)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def order_id(sample) -> str:
    return re.search(r"W\d+", sample.context[0].content).group()


def read_lines(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_cli_eval_openai_backend(oracle, tmp_path):
    data = tmp_path / "turns.jsonl"
    write_jsonl(data, make_samples(6))
    out = tmp_path / "res.json"
    r = runner.invoke(app, ["eval", "--backend", "openai", "--endpoint", oracle, "--model", "served",
                            "--data", str(data), "--out", str(out), "--think", "required"])
    assert r.exit_code == 0, r.output
    m = json.loads(out.read_text())["metrics"]
    assert m["turn_accuracy"] == 1.0 and m["exact_call_accuracy"] == 1.0 and m["format_validity"] == 1.0
    preds = [json.loads(x) for x in (tmp_path / "res.predictions.jsonl").read_text().splitlines()]
    assert preds[0]["output"].startswith("<think>\nlook up W1000\n</think>")


def test_two_evaluations_into_one_folder_keep_their_own_files(oracle, tmp_path):
    """Each --out names its side files, so a second evaluation into the folder neither
    overwrites the first one's nor takes them for its own (an endpoint run resumes from them)."""
    samples = make_samples(8)
    write_jsonl(tmp_path / "first.jsonl", samples[:3])
    write_jsonl(tmp_path / "second.jsonl", samples[3:])
    runs = {"a": "first", "b": "second"}
    for out, data in runs.items():
        r = runner.invoke(app, eval_args(oracle, tmp_path / f"{data}.jsonl", tmp_path / "res" / f"{out}.json"))
        assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == sorted(
        f"{out}.{name}" for out in runs for name in ("json", "predictions.jsonl", "gold.jsonl", "generation.json"))
    for out, data in runs.items():
        ids = [s["id"] for s in read_lines(tmp_path / f"{data}.jsonl")]
        assert [p["id"] for p in read_lines(tmp_path / "res" / f"{out}.predictions.jsonl")] == ids
        assert [g["id"] for g in read_lines(tmp_path / "res" / f"{out}.gold.jsonl")] == ids
        assert json.loads((tmp_path / "res" / f"{out}.generation.json").read_text())["samples"] == len(ids)
        rescored = tmp_path / f"{out}-again.json"
        r = runner.invoke(app, ["score", "--gold", str(tmp_path / "res" / f"{out}.gold.jsonl"), "--pred",
                                str(tmp_path / "res" / f"{out}.predictions.jsonl"), "--out", str(rescored),
                                "--think", "optional"])
        assert r.exit_code == 0, r.output
        assert json.loads(rescored.read_text()) == json.loads((tmp_path / "res" / f"{out}.json").read_text())


def test_flaky_endpoint_every_sample_ends_answered_or_recorded_then_resumes(oracle, tmp_path):
    """Each fault costs a retry, not the split; a sample that keeps failing gets a recorded
    error, is scored as missing, and is the only thing a rerun asks for."""
    samples = make_samples(8)
    oid = [order_id(s) for s in samples]
    _Oracle.faults = {oid[0]: ["429"], oid[1]: ["500", "500"], oid[2]: ["drop"], oid[3]: ["slow"],
                      oid[4]: ["malformed"], oid[5]: ["500"] * 9, oid[6]: ["400"]}
    gen = OpenAIGenerator(oracle, "served", concurrency=4, timeout=0.4, attempts=3, backoff=0.01)
    scores = evaluate_model("served", samples, out=tmp_path, generator=gen)

    assert dict(_Oracle.asked) == {oid[0]: 2, oid[1]: 3, oid[2]: 2, oid[3]: 2, oid[4]: 2,
                                   oid[5]: 3, oid[6]: 1, oid[7]: 1}
    first, second = _Oracle.times[oid[0]]
    assert second - first >= 0.9  # Retry-After: 1 kept, though the backoff base is 10 ms
    preds = read_lines(tmp_path / "predictions.jsonl")
    assert [p["id"] for p in preds] == [s.id for i, s in enumerate(samples) if i not in (5, 6)]
    errors = {e["id"]: e["error"] for e in read_lines(tmp_path / "errors.jsonl")}
    assert set(errors) == {samples[5].id, samples[6].id}
    assert "HTTP 500" in errors[samples[5].id] and "after 3 attempts" in errors[samples[5].id]
    assert "HTTP 400: fault 400" in errors[samples[6].id]
    m = scores["metrics"]
    assert m["n_missing_predictions"] == 2 and m["turn_accuracy"] == 6 / 8
    timing = json.loads((tmp_path / "generation.json").read_text())
    assert (timing["kept"], timing["requested"], timing["failed"]) == (0, 8, 2)

    # The endpoint is healthy again: only the two without a prediction are asked for.
    _Oracle.faults, _Oracle.asked = {}, Counter()
    scores = evaluate_model("served", samples, out=tmp_path, generator=gen)
    assert dict(_Oracle.asked) == {oid[5]: 1, oid[6]: 1}
    assert scores["metrics"]["n_missing_predictions"] == 0 and scores["metrics"]["turn_accuracy"] == 1.0
    assert [p["id"] for p in read_lines(tmp_path / "predictions.jsonl")] == [s.id for s in samples]
    assert not (tmp_path / "errors.jsonl").exists()


def test_stopped_run_keeps_what_arrived_and_a_rerun_asks_nothing_twice(oracle, tmp_path):
    """Predictions are on disk as they arrive: a run that stops part way (here the model goes
    missing at the fifth sample) keeps the first four, and a rerun asks only for the rest."""
    samples = make_samples(8)
    oid = [order_id(s) for s in samples]
    _Oracle.faults = {oid[4]: ["404"]}
    gen = OpenAIGenerator(oracle, "served", concurrency=1, timeout=2, backoff=0.01)
    with pytest.raises(RuntimeError, match="HTTP 404"):
        evaluate_model("served", samples, out=tmp_path, generator=gen)
    assert [p["id"] for p in read_lines(tmp_path / "predictions.jsonl")] == [s.id for s in samples[:4]]
    assert sum(_Oracle.asked.values()) == 5

    # A kill in the middle of writing leaves a cut last line: it is dropped and asked again.
    with (tmp_path / "predictions.jsonl").open("a") as f:
        f.write('{"id": "%s", "outp' % samples[4].id)
    _Oracle.faults, _Oracle.asked = {}, Counter()
    scores = evaluate_model("served", samples, out=tmp_path, generator=gen)
    assert dict(_Oracle.asked) == {o: 1 for o in oid[4:]}
    assert scores["metrics"]["n_missing_predictions"] == 0 and scores["metrics"]["turn_accuracy"] == 1.0


def test_predictions_of_another_evaluation_are_refused(oracle, tmp_path):
    samples = make_samples(4)
    gen = OpenAIGenerator(oracle, "served", timeout=2)
    pred = tmp_path / "predictions.jsonl"
    pred.write_text(json.dumps({"id": samples[0].id, "output": "x", "model": "served"}) + "\n"
                    + json.dumps({"id": samples[1].id, "output": "y", "model": "other"}) + "\n")
    with pytest.raises(DataError, match=r"line 2, field 'model': written for model 'other'"):
        evaluate_model("served", samples, out=tmp_path, generator=gen)
    pred.write_text(json.dumps({"id": "elsewhere#3", "output": "x", "model": "served"}) + "\n")
    with pytest.raises(DataError, match=r"line 1, field 'id': id 'elsewhere#3' is not among"):
        evaluate_model("served", samples, out=tmp_path, generator=gen)
    assert sum(_Oracle.asked.values()) == 0


def eval_args(endpoint, data, out, model="served"):
    return ["eval", "--backend", "openai", "--endpoint", endpoint, "--model", model, "--data", str(data),
            "--out", str(out), "--concurrency", "2", "--attempts", "5"]


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "error" in line.lower()]


def test_cli_eval_wrong_model_fails_fast_with_one_line(oracle, tmp_path):
    data = tmp_path / "turns.jsonl"
    write_jsonl(data, make_samples(40))
    r = runner.invoke(app, eval_args(oracle, data, tmp_path / "res.json", model="nope"))
    assert r.exit_code == 1
    url = f"{oracle}/chat/completions"
    assert error_lines(r.output) == [f"error: {url} answered HTTP 404: The model `nope` does not exist."]
    assert sum(_Oracle.asked.values()) <= 2  # the requests in flight, not one per sample


def test_cli_eval_unreachable_endpoint_fails_fast_with_one_line(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tmp_path / "turns.jsonl"
    write_jsonl(data, make_samples(40))
    start = time.monotonic()
    r = runner.invoke(app, eval_args(f"http://127.0.0.1:{port}/v1", data, tmp_path / "res.json"))
    assert r.exit_code == 1 and time.monotonic() - start < 5  # no backoff: 40 x 5 tries would take minutes
    [line] = error_lines(r.output)
    assert line.startswith(f"error: cannot reach http://127.0.0.1:{port}/v1/chat/completions: ")
    assert "Connection refused" in line


def test_cli_eval_says_how_many_have_no_prediction(oracle, tmp_path):
    samples = make_samples(4)
    _Oracle.faults = {order_id(samples[1]): ["400"]}
    data = tmp_path / "turns.jsonl"
    write_jsonl(data, samples)
    r = runner.invoke(app, eval_args(oracle, data, tmp_path / "res.json"))
    assert r.exit_code == 0, r.output
    assert "1 samples have no prediction" in r.output and str(tmp_path / "res.errors.jsonl") in r.output
    assert json.loads((tmp_path / "res.json").read_text())["metrics"]["n_missing_predictions"] == 1


def test_generate_raises_for_a_sample_without_an_answer(oracle):
    """`generate` (BFCL, episodes) wants every output: one that keeps failing is an error
    naming the sample, after its retries."""
    samples = make_samples(3)
    _Oracle.faults = {order_id(samples[2]): ["500"] * 9}
    gen = OpenAIGenerator(oracle, "served", attempts=2, backoff=0.01, timeout=2)
    with pytest.raises(RuntimeError, match=r"sample 'c2#0': .*HTTP 500.*after 2 attempts"):
        gen.generate(samples)
    assert _Oracle.asked[order_id(samples[2])] == 2


def test_a_failed_evaluation_leaves_no_folder(tmp_path):
    class Broken:
        def generate(self, samples, advance):
            raise RuntimeError("the model fell over")

    with pytest.raises(RuntimeError, match="fell over"):
        evaluate_model("m", make_samples(2), out=tmp_path / "ev", generator=Broken())
    assert not (tmp_path / "ev").exists()
