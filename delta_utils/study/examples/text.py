"""Rendering shared by the notebooks' examples: model text in a code block, an extracted answer, a share."""
from __future__ import annotations

import numpy as np
import pandas as pd


def block(text: str) -> str:
    """Model text as a code block that shows it as written (a ~~~~ fence when the text holds ```)."""
    fence = "~~~~" if "```" in text else "```"
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def answer(pred) -> str:
    return "none" if pred is None or (isinstance(pred, float) and np.isnan(pred)) or pred == "" else f"`{pred}`"


def pct(x) -> str:
    return "n/a" if x is None or pd.isna(x) else f"{x:.0%}"
