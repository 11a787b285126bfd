"""Drawing, with nothing of the study in it: the `Figure` every notebook shows and saves, and the canvas helpers.

A stage's cache key covers the package modules its notebook imports (`depgraph`), so the study's figure
functions (`figures`, 06 only) and each stage's example plots (`examples`) draw on this module alone: editing
one of 06's plots leaves stages 01-05 up to date.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure as MplFigure


@dataclass
class Figure:
    """A drawn figure and the numbers behind it."""

    name: str
    fig: MplFigure
    data: pd.DataFrame

    def save(self, directory: Path) -> Path:
        """`<name>.png` (150 dpi), `.pdf` and `.csv` in `directory`; returns the PNG's path."""
        directory.mkdir(parents=True, exist_ok=True)
        self.fig.tight_layout()
        self.fig.savefig(directory / f"{self.name}.png", dpi=150, bbox_inches="tight")  # legends outside the axes
        self.fig.savefig(directory / f"{self.name}.pdf", bbox_inches="tight")
        self.data.to_csv(directory / f"{self.name}.csv", index=False)
        return directory / f"{self.name}.png"

    def __repr__(self) -> str:
        return f"<Figure {self.name!r}: {len(self.data)} rows of numbers; .fig draws it, .save(folder) writes it>"

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.fig.tight_layout()
        self.fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        return buf.getvalue()


def canvas(*grid, figsize, **kw):
    """A matplotlib figure (not pyplot's global state) and its axes: `grid` as for `Figure.subplots`."""
    fig = MplFigure(figsize=figsize)
    return fig, fig.subplots(*grid, **kw)


def empty(ax, msg: str) -> None:
    """An axes that says why it has nothing to draw."""
    ax.text(0.5, 0.5, msg, ha="center", va="center", wrap=True, fontsize=9, color="dimgrey", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
