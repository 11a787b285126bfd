"""The data layer: procedural, verifiable problems, real benchmarks, and answer checking.

Families: ``arithmetic`` (grade-school word problems, in-domain; `arithmetic`), ``stem`` (units, rates,
kinematics, chemistry, probability; out-of-domain, numeric or multiple choice; `stem`) and
``code_output`` (predict what a short generated Python program prints; out-of-domain code, answers
verified by running the program in the sandbox; `code`). Benchmarks by name (`benchmarks`, declared in
`delta_utils.data.benchmark_specs`). Every item is a `Problem` (`problem`, the leaf every submodule imports);
`checking` scores a trace against it, `prompts` shows it to a model. Items are a pure function of
(family, seed, index): the same profile always gives the same data, and sets drawn from different seeds
never share a problem.

Submodules import each other (``from .problem import Problem``), never this ``__init__``, which only
re-exports what callers use.
"""
from .arithmetic import ALL_OPS, arithmetic_problem
from .load import FAMILIES, load_tasks, make_problems
from .problem import Problem, Step
from .prompts import FEWSHOT_STOP, INSTRUCTION, INSTRUCTIONS, chat_prompt, fewshot_prompt, question_text

__all__ = ["ALL_OPS", "FAMILIES", "FEWSHOT_STOP", "INSTRUCTION", "INSTRUCTIONS", "Problem", "Step",
           "arithmetic_problem", "chat_prompt", "fewshot_prompt", "load_tasks", "make_problems", "question_text"]
