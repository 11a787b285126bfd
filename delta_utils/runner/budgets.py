"""Do a profile's requests fit the servers that answer them? (`make check`, before any GPU hour is spent)

Every request's prompt plus its `max_tokens` must fit two limits:

- the context of the server that answers it: llama.cpp's `ctx_per_slot`; vLLM's `max_model_len` (unset: vLLM
  takes the model's own limit); a remote endpoint has none of its own;
- the model's own limit, `max_context` (its config.json's max_position_embeddings; declared for the packaged
  models and in the profile's `models:` for the others; unknown limits are reported, not guessed).

The requests: generation (each generator on the training prompts), judging (the rubric, the question and a trace
of up to the generators' `max_tokens`, then the judge's reply), evaluation of the policy (each eval set's budget,
on the evaluation server or in-process) and of the generators (on the server `config.generator_server` gives
them), and training rows (`train.hparams.max_length` against the policy's own limit).

Prompts are measured in characters, at `CHARS_PER_TOKEN` (fewer than BPE vocabularies give for English or LaTeX,
so the estimate errs long), plus `TEMPLATE_TOKENS` for the chat template. A hub benchmark that was not loaded
(`make check` without LOAD_DATA=1) is allowed `UNKNOWN_PROMPT_TOKENS`.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..data.rubric import SYSTEM_PROMPT, USER_TEMPLATE, reply_prefix
from ..data.tasks import Problem, chat_prompt, fewshot_prompt
from ..profile.config import Profile, generator_server, set_sampling
from ..serving.models import get_spec

CHARS_PER_TOKEN = 3.0
TEMPLATE_TOKENS = 64
UNKNOWN_PROMPT_TOKENS = 2048


def prompt_tokens(problems: list[Problem] | None, model: str) -> int:
    """The longest prompt `model` is shown for these problems, in tokens (estimated); the allowance if unknown."""
    if not problems:
        return UNKNOWN_PROMPT_TOKENS
    chat = get_spec(model).chat
    chars = max(sum(len(m["content"]) for m in chat_prompt(p)) if chat else len(fewshot_prompt(p)) for p in problems)
    return int(chars / CHARS_PER_TOKEN) + TEMPLATE_TOKENS


def question_tokens(problems: list[Problem] | None) -> int:
    if not problems:
        return UNKNOWN_PROMPT_TOKENS
    return int(max(len(p.question) for p in problems) / CHARS_PER_TOKEN)


def server_context(backend: str, server, section: str) -> tuple[int | None, str | None]:
    """(context tokens of one request on this server, the field that sets it); (None, None) when the server has
    no limit of its own (vLLM without max_model_len, a remote endpoint, in-process transformers)."""
    if backend == "llamacpp":
        return server.ctx_per_slot, f"{section}.server.ctx_per_slot"
    if backend == "vllm" and server.max_model_len:
        return server.max_model_len, f"{section}.server.max_model_len"
    return None, None


@dataclass(frozen=True)
class Fit:
    """One kind of request: where it is made, its prompt and budget, and the limits it must fit."""

    stage: str
    what: str  # e.g. "generator s1.1-7b on amc23"
    prompt: int
    budget: int
    budget_field: str
    limits: tuple  # ((tokens or None, field), ...)

    @property
    def need(self) -> int:
        return self.prompt + self.budget

    def problems(self) -> list[str]:
        out = []
        for limit, field in self.limits:
            if limit is not None and self.need > limit:
                out.append(f"{self.stage} ({self.what}): prompt ~{self.prompt:,} + {self.budget_field} "
                           f"{self.budget:,} = {self.need:,} tokens > {limit:,} ({field})")
        return out


def _model_limit(model: str) -> tuple[int | None, str]:
    spec = get_spec(model)
    return spec.max_context, f"the model's own limit, models[{model}].max_context"


def fits(profile: Profile, train: list[Problem] | None, evals: dict[str, list[Problem]] | None) -> list[Fit]:
    """Every kind of request the profile makes, with its limits (`train`/`evals`: the loaded problems, or None)."""
    g, j, t, ev = profile.generation, profile.judge, profile.train, profile.evaluate
    evals = evals or {}
    out = []
    gen_ctx = server_context(g.backend, g.server, "generation")
    for m in g.generators:
        local = () if get_spec(m).endpoint_env else (gen_ctx,)
        out.append(Fit("01_generate", f"generator {m}", prompt_tokens(train, m), g.sampling.max_tokens,
                       "generation.sampling.max_tokens", (*local, _model_limit(m))))
    rubric = int((len(SYSTEM_PROMPT) + len(USER_TEMPLATE)) / CHARS_PER_TOKEN) + TEMPLATE_TOKENS
    judge_prompt = rubric + question_tokens(train) + g.sampling.max_tokens
    reply, field = (int(len(reply_prefix([5] * 4)) / CHARS_PER_TOKEN) + 1, "the chained reply") \
        if j.scoring == "chained" else (j.max_tokens, "judge.max_tokens")
    out.append(Fit("02_judge", f"judge {j.model} on a trace of generation.sampling.max_tokens", judge_prompt, reply,
                   field, (server_context(j.backend, j.server, "judge"), _model_limit(j.model))))
    out.append(Fit("04_train", f"policy {t.policy}", 0, t.hparams.max_length, "train.hparams.max_length",
                   (_model_limit(t.policy),)))
    pol_ctx = server_context(ev.backend, ev.server, "evaluate") if ev.backend == "vllm" else (None, None)
    gsrv = generator_server(profile)
    gen_eval_ctx = server_context(g.backend, gsrv, "evaluate" if gsrv is not g.server else "generation")
    for s in ev.sets:
        budget = set_sampling(profile, s).max_tokens
        bfield = f"evaluate.sets[{s.name}].max_tokens" if s.max_tokens else "evaluate.sampling.max_tokens"
        probs = evals.get(s.name)
        out.append(Fit("05_evaluate", f"policy {t.policy} on {s.name}", prompt_tokens(probs, t.policy), budget,
                       bfield, (pol_ctx, _model_limit(t.policy))))
        if ev.generators:
            for m in g.generators:
                local = () if get_spec(m).endpoint_env else (gen_eval_ctx,)
                out.append(Fit("05_evaluate", f"generator {m} on {s.name}", prompt_tokens(probs, m), budget, bfield,
                               (*local, _model_limit(m))))
    return out


class BudgetError(ValueError):
    """A request that cannot fit its server or its model."""


def check(profile: Profile, train: list[Problem] | None = None,
          evals: dict[str, list[Problem]] | None = None) -> list[str]:
    """Lines for the plan (the tightest request of each stage and any unknown model limit); raises BudgetError
    naming the fields when any request does not fit."""
    rows = fits(profile, train, evals)
    bad = [p for f in rows for p in f.problems()]
    if bad:
        raise BudgetError("requests that do not fit their server or model (shorten the budget or raise the limit):"
                          "\n  " + "\n  ".join(bad))
    lines = ["context: every request fits its server and model; the tightest of each stage:"]
    for stage in dict.fromkeys(f.stage for f in rows):
        worst = max((f for f in rows if f.stage == stage),
                    key=lambda f: max((f.need / lim for lim, _ in f.limits if lim), default=0))
        lims = ", ".join(f"{lim:,} ({fld})" for lim, fld in worst.limits if lim) or "no known limit"
        lines.append(f"  {stage:<12} {worst.what}: ~{worst.need:,} tokens of {lims}")
    unknown = sorted({fld.split("models[")[1].split("]")[0] for f in rows for lim, fld in f.limits
                      if lim is None and fld and "models[" in fld})
    if unknown:
        lines.append(f"  own context limit unknown (set max_context in models:) for {', '.join(unknown)}")
    return lines
