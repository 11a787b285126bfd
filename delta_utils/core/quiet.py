"""How a notebook reports while it runs: progress bars and library warnings, set here and nowhere else.

A notebook runs in one of two places, and a progress bar has to suit each:

* **A live kernel** (JupyterLab, `make lab`): a bar is `tqdm.auto`, which with ipywidgets installed is one
  widget per loop, updated in place.
* **Headless, under the pipeline** (`python -m delta_utils.runner.pipeline run`, papermill): every redraw of a bar
  reaches the notebook as its own stream output and is saved in the executed copy (05_evaluate once held
  1,222 chunks, 139 KB of stderr, in one cell), and a widget would be saved as `HBox(...)` text. So the
  pipeline starts the kernel with `HEADLESS_ENV`, and in that mode:
    - the study's own loops (`bar`) draw a text bar at most every `HEADLESS_INTERVAL_S` seconds, which is
      enough to follow a run in the terminal;
    - the libraries' bars (loading weights, dataset maps, the trainer's step bar) are off: the Hugging Face
      switches for theirs, `TQDM_DISABLE` for the rest (the trainer still prints each logged step), and
      `setup` points `tqdm.auto` at the text bar, since a widget ignores `TQDM_DISABLE`;
    - `tidy_streams`, run by the pipeline on the executed notebook, keeps of each stretch of stream output
      what a terminal would show at the end (each bar's last state, one line).

`setup()` is the first thing every notebook's first code cell does (before the libraries import `tqdm.auto`);
it also filters the library warnings listed in `KNOWN_WARNINGS`, each with the reason it is filtered rather
than fixed.
"""
from __future__ import annotations

import os
import re
import sys
import warnings

HEADLESS_FLAG = "DELTA_LAB_HEADLESS"
# the environment the pipeline gives a notebook's kernel (read by tqdm and the libraries when first imported)
HEADLESS_ENV = {
    HEADLESS_FLAG: "1",
    "TQDM_DISABLE": "1",  # the default of every tqdm that does not say otherwise (`bar` does)
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # huggingface_hub and transformers (loading weights, downloads)
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",  # datasets' map/filter (TRL's tokenization)
}
HEADLESS_INTERVAL_S = 30.0

# (message regex, category, module regex, why it is filtered rather than fixed)
KNOWN_WARNINGS = [
    (r"`is_gradient_checkpointing` is deprecated", FutureWarning, r"transformers\.modeling_utils",
     "raised when peft (PeftModel) and TRL (disable_gradient_checkpointing) read the deprecated property of "
     "transformers 5; the call is in their code, not ours (our own config uses `activation_checkpointing`)"),
]


def headless() -> bool:
    """Whether this process runs under the pipeline (papermill), not in a live kernel."""
    return os.environ.get(HEADLESS_FLAG) == "1"


def setup() -> None:
    """Progress bars for where this kernel runs, and the known library warnings filtered (see the module)."""
    for message, category, module, _why in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
    if headless():
        import tqdm.std

        with warnings.catch_warnings():  # "IProgress not found" if ipywidgets is missing: no widget is wanted here
            warnings.simplefilter("ignore", tqdm.std.TqdmWarning)
            import tqdm.auto
            import tqdm.autonotebook

        for mod in (tqdm.auto, tqdm.autonotebook):
            mod.tqdm, mod.trange = tqdm.std.tqdm, tqdm.std.trange


def bar(total: int, desc: str, unit: str = "item"):
    """A progress bar for one of the study's loops: a live widget in JupyterLab, a text bar that redraws at
    most every `HEADLESS_INTERVAL_S` seconds under the pipeline."""
    if headless():
        from tqdm.std import tqdm

        return tqdm(total=total, desc=desc, unit=unit, disable=False, file=sys.stderr,
                    mininterval=HEADLESS_INTERVAL_S, maxinterval=HEADLESS_INTERVAL_S)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, mininterval=1.0)


_BACKSPACE = re.compile(r"[^\n\x08]\x08")  # a character and the backspace that erases it
_OVERWRITTEN = re.compile(r"[^\n]*\r(?=[^\n])")  # a line's text that a carriage return draws over


def terminal_text(text: str) -> str:
    """What a terminal shows after printing `text`: each carriage return draws over the line so far."""
    text = text.replace("\r\n", "\n")
    while True:
        shorter = _BACKSPACE.sub("", text)
        if shorter == text:
            break
        text = shorter
    return _OVERWRITTEN.sub("", text).replace("\r", "")


def tidy_streams(nb) -> int:
    """Merge each cell's consecutive stream outputs of one name (stdout, stderr) into one, as a terminal would
    show them (`terminal_text`); other outputs keep their place. Returns how many outputs were dropped."""
    dropped = 0
    for cell in nb.cells:
        if cell.get("cell_type") != "code" or not cell.get("outputs"):
            continue
        kept = []
        for out in cell.outputs:
            prev = kept[-1] if kept else None
            if (out.get("output_type") == "stream" and prev is not None and prev.get("output_type") == "stream"
                    and prev.get("name") == out.get("name")):
                prev["text"] = prev["text"] + out["text"]
                dropped += 1
            else:
                kept.append(out)
        for out in kept:
            if out.get("output_type") == "stream":
                out["text"] = terminal_text(out["text"])
        cell.outputs = [o for o in kept if o.get("output_type") != "stream" or o["text"]]
        dropped += len(kept) - len(cell.outputs)
    return dropped
