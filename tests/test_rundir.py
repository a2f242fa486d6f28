"""The run folder's layout: the places RunDir names are the ones run folders on disk already
have (so older runs are still read), side files are named after their results file, and the
modules that train and evaluate never import the orchestration above them."""

import ast
from pathlib import Path

import thinkact
from thinkact.rundir import AblationDir, EvalFiles, RunDir, side_file, stage_done


def test_run_folder_places_are_the_on_disk_layout(tmp_path):
    run = RunDir(tmp_path)
    rel = lambda p: p.relative_to(tmp_path).as_posix()  # noqa: E731
    assert [rel(p) for p in (run.config, run.data.path, run.data.turns("test"), run.data.conversations("ood"),
                             run.data.coldstart, run.stage("sft"), run.stage_model("grpo"), run.stage_log("grpo"),
                             run.eval_dir("vanilla"), run.eval_dir("sft", "test"), run.eval_tmp("sft", "test"),
                             run.results, run.results_md, run.timings, run.report, run.dry_run_model,
                             run.seed(2).path)] == [
        "run_config.yaml", "data", "data/turns_test.jsonl", "data/ood.jsonl", "data/coldstart.jsonl",
        "stages/sft", "stages/grpo/model", "stages/grpo/train_log.jsonl", "eval/vanilla", "eval/sft/test",
        ".tmp/sft/test", "results.json", "results.md", "timings.json", "report", "dry-run-model", "seed-2"]
    files = run.eval("grpo", "ood")
    assert [rel(p) for p in (files.scores, files.predictions, files.gold, files.generation, files.errors)] == [
        f"eval/grpo/ood/{name}" for name in
        ("scores.json", "predictions.jsonl", "gold.jsonl", "generation.json", "errors.jsonl")]
    ablation = run.ablation
    assert isinstance(ablation, AblationDir)
    assert [rel(p) for p in (ablation.variant_stage("no-tool"), ablation.variant_file("no-tool"),
                             ablation.eval_dir("no-tool", "test"), ablation.config, ablation.results,
                             ablation.results_md)] == [
        "ablate/no-tool/grpo", "ablate/no-tool/variant.yaml", "ablate/eval/no-tool/test",
        "ablate/run_config.yaml", "ablate/ablate.json", "ablate/ablate.md"]


def test_what_a_run_folder_holds_is_found(tmp_path):
    run = RunDir(tmp_path)
    for stage, split in (("vanilla", "test"), ("sft", "ood")):
        run.eval_dir(stage, split).mkdir(parents=True)
        run.eval(stage, split).scores.write_text("{}")
    run.eval_dir("grpo", "test").mkdir(parents=True)  # no scores yet: not an evaluation
    assert run.evaluations() == {("vanilla", "test"): run.eval_dir("vanilla", "test"),
                                 ("sft", "ood"): run.eval_dir("sft", "ood")}
    assert run.evaluated_stages() == {"vanilla", "sft", "grpo"} and run.is_run()

    for k in (10, 2):
        run.seed(k).path.mkdir()
    (tmp_path / "seed-x").mkdir()
    assert [(k, r.path.name) for k, r in run.seeds().items()] == [(2, "seed-2"), (10, "seed-10")]

    assert not stage_done(run.stage("sft")) and not run.stage_done("sft")
    run.stage_model("sft").mkdir(parents=True)
    (run.stage_model("sft") / "config.yaml").write_text("stage: sft\n")
    assert run.stage_done("sft")

    for name in ("no-tool", "binary"):
        run.ablation.variant(name).mkdir(parents=True)
    run.ablation.variant_file("binary").write_text("name: binary\n")
    assert list(run.ablation.finished_variants()) == ["binary"]


def test_side_files_are_named_after_the_results_file(tmp_path):
    files = EvalFiles.beside(tmp_path / "runs" / "qwen.json")
    assert files.scores == tmp_path / "runs" / "qwen.json"
    assert [p.name for p in (files.predictions, files.gold, files.generation, files.errors)] == [
        "qwen.predictions.jsonl", "qwen.gold.jsonl", "qwen.generation.json", "qwen.errors.jsonl"]
    assert side_file("out/scores", "episodes.jsonl") == Path("out/scores.episodes.jsonl")
    # two results files in one folder never share a side file
    other = EvalFiles.beside(tmp_path / "runs" / "qwen.v2.json")
    assert not {files.predictions, files.gold, files.generation, files.errors} & {
        other.predictions, other.gold, other.generation, other.errors}


def test_training_and_evaluation_do_not_import_the_orchestration():
    """train/ and evaluate/ sit below pipeline, seeds and ablate: they never import them, at
    the top of a module or inside a function."""
    above = {"thinkact.pipeline", "thinkact.seeds", "thinkact.ablate"}
    root = Path(thinkact.__file__).parent
    found = []
    for path in sorted([*root.glob("train/*.py"), *root.glob("evaluate/*.py"), root / "rundir.py"]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):  # `from thinkact.pipeline import x`, `from thinkact import pipeline`
                names = [node.module or "", *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            found += [f"{path.relative_to(root)}: {n}" for n in names if n in above]
    assert found == []
