import io

from rich.console import Console
from rich.progress import MofNCompleteColumn, TextColumn

from thinkact.progress import Progress


def _bar(console, every):
    return Progress(TextColumn("{task.description}"), MofNCompleteColumn(), console=console, every=every,
                    auto_refresh=False)


def test_a_log_file_gets_a_line_per_report_while_the_work_runs():
    out = io.StringIO()
    with _bar(Console(file=out, force_terminal=False, width=60), every=0) as bar:
        task = bar.add_task("scoring", total=3)
        bar.advance(task)
        assert "scoring 1/3" in out.getvalue()  # written before the work is done
        bar.update(task, advance=1)
        bar.advance(task)
    lines = [line.strip() for line in out.getvalue().splitlines() if line.strip()]
    assert lines == ["scoring 1/3", "scoring 2/3", "scoring 3/3"]  # the last one is rich's own


def test_reports_wait_for_their_interval_and_never_go_to_a_terminal():
    out = io.StringIO()
    with _bar(Console(file=out, force_terminal=False, width=60), every=3600) as bar:
        task = bar.add_task("scoring", total=2)
        bar.advance(task)
        assert out.getvalue() == ""
        bar.advance(task)
    assert [line.strip() for line in out.getvalue().splitlines() if line.strip()] == ["scoring 2/2"]

    tty = io.StringIO()
    with _bar(Console(file=tty, force_terminal=True, color_system=None, width=60), every=0) as bar:
        task = bar.add_task("scoring", total=2)
        bar.advance(task)
    assert tty.getvalue().count("scoring 1/2") == 1  # rich's own last redraw, no line of ours
