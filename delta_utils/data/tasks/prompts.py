"""How a problem is shown to a model: the chat prompt (question, options, one instruction line per answer
kind) and the few-shot completion prompt for base models without a chat template."""
from __future__ import annotations

from .problem import Problem

# "(no code)": without it the Qwen coders answer 11-25 % of word problems with a Python block and an invented
# output, which runs past the token budget and leaves no arithmetic for the verifier to check
# "'The answer is' and then the number": with "'The answer is N.' where N is a number" 2-12 % of the traces
# ended with a literal "The answer is N." (scored wrong)
INSTRUCTION = ("Solve the problem step by step, briefly, in words and arithmetic (no code). End with a line "
               "that says 'The answer is' and then the number.")
INSTRUCTIONS = {
    "number": INSTRUCTION,
    "choice": "Think step by step, briefly. End with the line 'The answer is X.' where X is the letter of "
              "the correct option.",
    "text": "Think step by step, briefly. End with the line 'The answer is X.' where X is exactly what the "
            "program prints.",
    "code": "Complete the function. Reply with the whole function in one ```python code block.",
}


def question_text(problem: Problem) -> str:
    """The question, its options, and the instruction of its kind (or the problem's own, e.g. LiveCodeBench's
    "read from stdin" or "complete the starter code")."""
    q = problem.question
    if problem.kind == "choice":
        q += "\n" + "\n".join(f"{chr(65 + i)}. {c}" for i, c in enumerate(problem.choices))
    return f"{q}\n{problem.extra.get('instruction') or INSTRUCTIONS[problem.kind]}"


def chat_prompt(problem: Problem) -> list[dict]:
    return [{"role": "user", "content": question_text(problem)}]


_FEWSHOT = [
    ("Sam has 4 pens. Then Sam buys 3 more pens. How many pens does Sam have now?",
     "Sam starts with 4 pens. 4 + 3 = 7. The answer is 7."),
    ("Lea has 12 cards. Lea loses 5 cards. Then the number of cards Lea has grows 2 times as large. "
     "How many cards does Lea have now?",
     "Lea starts with 12 cards. 12 - 5 = 7. 7 * 2 = 14. The answer is 14."),
]


def fewshot_prompt(problem: Problem) -> str:
    """A plain completion prompt for base models without a chat template."""
    shots = "".join(f"Question: {q}\nAnswer: {a}\n\n" for q, a in _FEWSHOT)
    return f"{shots}Question: {problem.question}\nAnswer:"


FEWSHOT_STOP = ["\nQuestion:", "\n\n"]
