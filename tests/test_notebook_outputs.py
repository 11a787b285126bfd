"""The executed notebooks as a reader finds them (`figures/<profile>/notebooks`, committed): no error, no library
warning, no wall of progress-bar output, no path of the machine that ran them. And the mechanism that keeps them
so (`delta_utils/core/quiet.py`, used by `pipeline.execute_notebook`), run on a small notebook of its own."""
import re
import tempfile
import warnings
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from delta_utils.core import quiet
from delta_utils.profile.config import REPO_ROOT

# every profile's executed notebooks under figures/, all from the headless pipeline (delta_utils/core/quiet.py);
# test_docs names the profiles that must be committed
FOLDERS = sorted((REPO_ROOT / "figures").glob("*/notebooks"))
NOTEBOOKS = sorted(p for d in FOLDERS if d.is_dir() for p in d.glob("*.ipynb"))
STDERR_LIMIT = 4096  # bytes of stderr per notebook: a few finished bars' last lines, no redraws
# this machine's own places, derived here rather than written down: the checkout, the home folder, the temp folder
MACHINE_PATHS = sorted({f"{p}/" for p in (REPO_ROOT.resolve(), REPO_ROOT.resolve().parent, Path.home(),
                                          Path(tempfile.gettempdir())) if str(p) != "/"})
TEXT_TYPES = ("text/plain", "text/markdown", "text/html", "text/latex", "application/json")


def _texts(nb):
    """(cell index, output type, text) for every output a reader sees as text (images left out)."""
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            kind = out["output_type"]
            if kind == "stream":
                yield i, f"stream/{out['name']}", out["text"]
            elif kind == "error":
                yield i, "error", "\n".join([out.get("ename", ""), out.get("evalue", ""), *out.get("traceback", [])])
            else:
                for mime in TEXT_TYPES:
                    if mime in out.get("data", {}):
                        yield i, mime, str(out["data"][mime])


def _id(p: Path) -> str:
    return f"{p.parent.parent.name}/{p.stem}"


@pytest.fixture(params=NOTEBOOKS, ids=[_id(p) for p in NOTEBOOKS])
def executed(request):
    return request.param, nbformat.read(request.param, as_version=4)


@pytest.mark.skipif(not NOTEBOOKS, reason="no executed notebooks under figures/*/notebooks")
def test_no_error_or_traceback(executed):
    path, nb = executed
    bad = [(i, kind) for i, kind, text in _texts(nb) if kind == "error" or "Traceback (most recent call last)" in text]
    assert not bad, f"{_id(path)}: errors in cells {bad}"


@pytest.mark.skipif(not NOTEBOOKS, reason="no executed notebooks under figures/*/notebooks")
def test_no_warning_text(executed):
    path, nb = executed
    found = [(i, m.group(0).strip()[:160]) for i, _, text in _texts(nb)
             for m in re.finditer(r"[^\n]*Warning[^\n]*", text)]
    assert not found, f"{_id(path)}: warnings in the outputs (fix the cause or filter it in quiet.py): {found}"


@pytest.mark.skipif(not NOTEBOOKS, reason="no executed notebooks under figures/*/notebooks")
def test_stderr_is_a_few_lines(executed):
    path, nb = executed
    per_cell = {}
    for i, kind, text in _texts(nb):
        if kind == "stream/stderr":
            per_cell[i] = per_cell.get(i, 0) + len(text.encode())
    assert sum(per_cell.values()) <= STDERR_LIMIT, f"{_id(path)}: stderr bytes per cell {per_cell}"


@pytest.mark.skipif(not NOTEBOOKS, reason="no executed notebooks under figures/*/notebooks")
def test_no_machine_paths(executed):
    path, nb = executed
    texts = [(i, "source", c.source) for i, c in enumerate(nb.cells)] + list(_texts(nb))
    found = [(i, kind, p) for i, kind, text in texts for p in MACHINE_PATHS if p in text]
    assert not found, f"{_id(path)}: machine paths in {found}"


# ---------------------------------------------------------------- the mechanism

LOOP = '''
from delta_utils.core import quiet

quiet.setup()

import warnings

from tqdm.auto import tqdm

from delta_utils.serving.engine import _Progress

bar = _Progress(n, "loop")
for _ in range(n):
    bar.update(3)
bar.close()
for _ in tqdm(range(n), desc="a library's bar"):
    pass
warnings.warn_explicit("`is_gradient_checkpointing` is deprecated and will be removed in v6.", FutureWarning,
                       "modeling_utils.py", 1, module="transformers.modeling_utils")
print("done")
'''


def test_a_pipeline_run_keeps_a_bar_to_one_line(tmp_path, capsys):
    """2,000 updates of the study's bar, a library's bar and a known library warning, run through the pipeline's
    papermill call: the saved notebook keeps one line of stderr, the terminal sees the bar once."""
    from delta_utils.runner.pipeline import execute_notebook

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("n = 10", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(LOOP)]
    src, out = tmp_path / "loop.src.ipynb", tmp_path / "loop.ipynb"
    nbformat.write(nb, src)
    execute_notebook(src, out, {"n": 2000}, cwd=tmp_path)
    echoed = capsys.readouterr()
    cell = nbformat.read(out, as_version=4).cells[-1]
    stderr = "".join(o["text"] for o in cell.outputs if o["output_type"] == "stream" and o["name"] == "stderr")
    stdout = "".join(o["text"] for o in cell.outputs if o["output_type"] == "stream" and o["name"] == "stdout")
    assert stdout == "done\n"
    assert "2000/2000" in stderr and "\r" not in stderr and len(stderr.encode()) < 300, stderr
    assert "library" not in stderr and "Warning" not in stderr, stderr
    assert echoed.err.count("2000/2000") == 1, echoed.err  # echoed once (log_output would print it twice)


def test_terminal_text_keeps_what_a_terminal_shows():
    assert quiet.terminal_text("\rbar 0%\rbar 50%\rbar 100%\n") == "bar 100%\n"
    assert quiet.terminal_text("a\r\nb\rc\n") == "a\nc\n"
    assert quiet.terminal_text("ab\x08c\n") == "ac\n"
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text="\rx 1"),
                    nbformat.v4.new_output("stream", name="stderr", text="\rx 2"),
                    nbformat.v4.new_output("display_data", data={"text/plain": "table"}),
                    nbformat.v4.new_output("stream", name="stderr", text="\n")]
    nb.cells = [cell]
    quiet.tidy_streams(nb)
    assert [(o["output_type"], o.get("text")) for o in cell.outputs] == [
        ("stream", "x 2"), ("display_data", None), ("stream", "\n")]  # order kept around other outputs


def test_setup_filters_the_known_warnings_only():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet.setup()
        for message, category, module, _why in quiet.KNOWN_WARNINGS:
            text = message.replace("\\", "") + " (as the library says it)"
            warnings.warn_explicit(text, category, "x.py", 1, module=module.replace("\\", ""))
        warnings.warn("an unknown warning", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["an unknown warning"]
    assert all(why for *_, why in quiet.KNOWN_WARNINGS)


def test_the_judge_example_reads_its_own_numbers():
    from delta_utils.data.rubric import DIMENSION_NAMES
    from delta_utils.study.examples.judge import judge_disagreement

    def ex(judge, verifier, correct):
        table = pd.DataFrame({"judge (expected)": judge, "judge (sampled)": [round(x) for x in judge],
                              "verifier": verifier}, index=pd.Index(DIMENSION_NAMES, name="dimension"))
        return {"scores": table, "correct": correct}

    lenient = judge_disagreement(ex([4.58, 4.62, 4.91, 4.64, 4.68], [1.0, 1.0, 1.0, 3.0, 1.0], False))
    assert "4.69 out of 5" in lenient and "verifier 1.40" in lenient and "step coherence" in lenient
    assert "not what it computes" in lenient and "wrong" in lenient
    close = judge_disagreement(ex([4.0] * 5, [3.5] * 5, True))
    assert "tracks what the verifier checks" in close and "not what it computes" not in close
    strict = judge_disagreement(ex([2.0] * 5, [5.0] * 5, True))
    assert "stricter" in strict
    assert "no score" in judge_disagreement(ex([4.0] * 5, [float("nan")] * 5, True))
