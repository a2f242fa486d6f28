"""End-to-end episodes: the model as the agent against the bundled user simulator and backend.

Each user goal is played `trials` times (the user's wording changes per trial); an episode
succeeds when the agent did its part: the goal's final state, the procedure's calls, and the
outcome told to the user (see thinkact.bench.simulator; each failed episode records why).
Reported: success rate, tau-bench's pass^k (k = 1, 2, 4 by default: the chance that k trials of
a goal all succeed), and the failures by reason.

The model policy builds the prompt from the episode's context (system, tools, messages so far),
generates, and hands the raw text to the simulator, which parses it with the action grammar.
Episodes run in threads so that their policy calls can be batched: a call waits until every
running episode is waiting for an action too, then all of them go to the generator as one
batch. Generation stays in the calling thread; only the light simulator work runs in threads.
A prompt the model cannot take with room left for `max_new_tokens` (the generator's
`prompt_fits`, when it has one) is not generated: its episode ends there as a failure,
"context limit".
"""

from __future__ import annotations

import json
import queue
import threading
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable

from thinkact.bench.simulator import ContextLimit, pass_hat_k, run_episode, sample_goals
from thinkact.evaluate.generation import make_generator
from thinkact.evaluate.runner import progress_bar
from thinkact.progress import Progress
from thinkact.rundir import side_file
from thinkact.schema import Message, Target, TurnSample, write_jsonl


def context_sample(sample_id: str, system: str, tools: list[dict[str, Any]],
                   context: list[Message]) -> TurnSample:
    """A live context as a turn sample (its target is a placeholder: nothing is scored here)."""
    return TurnSample(id=sample_id, conversation_id=sample_id, turn_index=0, system=system,
                      tools=tools, context=context, target=Target(kind="reply", content="..."))


class BatchingPolicy:
    """Collects policy calls from episode threads and answers them in batches."""

    def __init__(self, generator: Any, workers: int):
        self.generator = generator
        self.cond = threading.Condition()
        self.pending: list[tuple[TurnSample, dict[str, Any]]] = []
        self.running = workers  # worker threads not yet finished
        self.error: BaseException | None = None
        self.batches = 0

    def ask(self, sample: TurnSample) -> str:
        """Called from an episode thread: block until this sample's output is ready."""
        slot: dict[str, Any] = {}
        with self.cond:
            self.pending.append((sample, slot))
            self.cond.notify_all()
            while "output" not in slot and self.error is None:
                self.cond.wait()
            if "output" not in slot:
                raise RuntimeError("generation failed") from self.error
            if slot["output"] is None:
                raise ContextLimit(f"the prompt of {sample.id} does not fit the model")
            return slot["output"]

    def finished(self) -> None:
        with self.cond:
            self.running -= 1
            self.cond.notify_all()

    def serve(self, on_batch: Callable[[int], None] | None = None) -> None:
        """Run in the calling thread until every worker has finished."""
        while True:
            with self.cond:
                # Wait until every running worker is blocked on an action (or none is left).
                while len(self.pending) < self.running:
                    self.cond.wait()
                if not self.pending:
                    return
                batch, self.pending = self.pending, []
            fits = getattr(self.generator, "prompt_fits", lambda sample: True)
            try:
                ok = [fits(s) for s, _ in batch]
                wanted = [s for (s, _), k in zip(batch, ok) if k]
                outputs = iter(self.generator.generate(wanted) if wanted else [])
            except BaseException as exc:
                with self.cond:
                    self.error = exc
                    self.cond.notify_all()
                raise
            with self.cond:
                for (_, slot), k in zip(batch, ok):
                    slot["output"] = next(outputs) if k else None  # None: ask() ends the episode
                self.batches += 1
                self.cond.notify_all()
            if on_batch:
                on_batch(len(batch))


def model_policy(batcher: BatchingPolicy, goal: Any, trial: int,
                 episode: str | None = None) -> Callable[[list[Message]], str]:
    """The policy the simulator calls: the context as a turn sample, the model's raw text back.
    Every sample of one episode carries the same `conversation_id` (`episode`, by default
    "<goal id>~<trial>"), so a generator can tell the episodes of a batch apart."""
    steps = iter(range(1, 10**9))
    episode = episode or f"{goal.id}~{trial}"

    def policy(messages: list[Message]) -> str:
        sample = context_sample(f"{episode}@{next(steps)}", goal.system, goal.tools, messages)
        return batcher.ask(sample.model_copy(update={"conversation_id": episode}))

    return policy


def run_episodes(generator: Any, goals: list[Any], *, trials: int = 4, max_actions: int = 40,
                 concurrency: int = 32, bar: Progress | None = None) -> list[Any]:
    """Play every goal `trials` times with the model policy; EpisodeResults in (goal, trial) order."""
    def job(goal: Any, trial: int) -> Callable[[BatchingPolicy], Any]:
        return lambda batcher: run_episode(goal, model_policy(batcher, goal, trial), trial=trial,
                                           max_actions=max_actions)

    return play_batched(generator, [job(g, t) for g in goals for t in range(trials)],
                        concurrency=concurrency, bar=bar)


def play_batched(generator: Any, jobs: list[Callable[[BatchingPolicy], Any]], *, concurrency: int = 32,
                 bar: Progress | None = None) -> list[Any]:
    """Run `jobs` (each plays one episode through the batcher it is given and returns its result)
    in up to `concurrency` threads, their policy calls generated together in batches; results
    in the jobs' order. Generation runs in the calling thread."""
    pending: queue.Queue = queue.Queue()
    for i, fn in enumerate(jobs):
        pending.put((i, fn))
    results: dict[int, Any] = {}
    errors: list[BaseException] = []
    workers = max(1, min(concurrency, len(jobs)))
    batcher = BatchingPolicy(generator, workers)
    task = bar.add_task("episodes", total=len(jobs), rate="") if bar else None

    def work() -> None:
        try:
            while not errors:
                try:
                    i, fn = pending.get_nowait()
                except queue.Empty:
                    return
                results[i] = fn(batcher)
                if bar:
                    bar.advance(task, 1)
        except BaseException as exc:  # reported in the calling thread
            errors.append(exc)
        finally:
            batcher.finished()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    try:
        batcher.serve()
    finally:
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return [results[i] for i in range(len(jobs))]


def summarize(goals: list[Any], results: list[Any], trials: int, ks: tuple[int, ...]) -> dict[str, Any]:
    by_goal: dict[str, list[Any]] = defaultdict(list)
    for r in results:
        by_goal[r.goal_id].append(r)
    successes = [[r.success for r in by_goal[g.id]] for g in goals]
    n = len(results)
    out: dict[str, Any] = {
        "goals": len(goals), "trials": trials, "episodes": n,
        "success_rate": sum(r.success for r in results) / n,
        **{f"pass^{k}": pass_hat_k(successes, k) for k in ks if k <= trials},
        "state_ok_rate": sum(r.state_ok for r in results) / n,
        "calls_ok_rate": sum(r.calls_ok for r in results) / n,
        "told_rate": sum(r.told for r in results) / n,
        # episodes by their first reason for failing ("missing call" without the calls)
        "failures": dict(sorted(Counter(r.failure.split(":")[0] for r in results if r.failure).items())),
        "mean_actions": sum(r.actions for r in results) / n,
        "malformed_rate": sum(r.malformed for r in results) / max(1, sum(r.actions for r in results)),
    }
    by_proc: dict[str, list[bool]] = defaultdict(list)
    for g in goals:
        by_proc[f"{g.domain}/{g.procedure}"] += [r.success for r in by_goal[g.id]]
    out["by_procedure"] = {p: sum(v) / len(v) for p, v in sorted(by_proc.items())}
    return out


def episodes_path(out: str | Path) -> Path:
    """Where evaluate_episodes writes the conversations of results file `out`."""
    return side_file(out, "episodes.jsonl")


def evaluate_episodes(model: Any, *, out: str | Path, split: str = "test", n_goals: int = 20,
                      trials: int = 4, ks: tuple[int, ...] = (1, 2, 4), seed: int = 0,
                      max_actions: int = 40, tokenizer: Any = None, backend: str = "hf",
                      endpoint: str | None = None, batch_size: int = 32, max_new_tokens: int = 256,
                      generator: Any = None) -> dict[str, Any]:
    """Play `n_goals` goals of `split`, `trials` times each, with the model as the agent.

    Writes `out` (summary plus one line per episode) and beside it, named after it
    (episodes_path: runs/ep.json -> runs/ep.episodes.jsonl), every episode as a canonical
    conversation, reasoning included, for reading; returns the summary.
    """
    if trials < 1 or n_goals < 1:
        raise ValueError("n_goals and trials must be at least 1")
    out = Path(out)
    goals = sample_goals(split, n_goals, seed)
    if generator is None:
        generator = make_generator(backend, model, tokenizer=tokenizer, endpoint=endpoint,
                                   batch_size=batch_size, max_new_tokens=max_new_tokens,
                                   concurrency=batch_size)
    with progress_bar() as bar:
        results = run_episodes(generator, goals, trials=trials, max_actions=max_actions,
                               concurrency=batch_size, bar=bar)
    summary = {"split": split, "seed": seed, **summarize(goals, results, trials, ks)}
    goal_by_id = {g.id: g for g in goals}
    summary["per_episode"] = [
        {"goal_id": r.goal_id, "trial": i % trials, "procedure": goal_by_id[r.goal_id].procedure,
         "outcome": goal_by_id[r.goal_id].outcome, "behaviours": goal_by_id[r.goal_id].behaviours(),
         "success": r.success, "failure": r.failure, "state_ok": r.state_ok, "calls_ok": r.calls_ok,
         "told": r.told, "ended": r.ended, "actions": r.actions, "malformed": r.malformed}
        for i, r in enumerate(results)]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_jsonl(episodes_path(out), (r.conversation for r in results))
    return summary
