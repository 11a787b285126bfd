"""A DataFrame as a Markdown table (dataset and model cards, reports): no tabulate dependency, NaN as blank."""
from __future__ import annotations

import pandas as pd


def markdown_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |"
              for row in df[cols].itertuples(index=False)]
    return "\n".join(lines)
