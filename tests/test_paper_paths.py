"""The code paths a GPU profile takes, run on CPU with local stand-ins: a model loaded from a local folder
(a converted packaged model standing in for a hub download), multi-process training (torchrun, DDP over
gloo, as `accelerate launch` starts it on GPUs), and checkpoint evaluation over the OpenAI protocol with
the `vllm serve` command line that a GPU run would use (a llama.cpp server answers in its place)."""
import contextlib
import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from test_train import _pairs, _write_set

from delta_utils.core.store import RecordCache
from delta_utils.profile.config import CONFIG_DIR, REPO_ROOT, load_profile
from delta_utils.serving import models
from delta_utils.serving.serve import llamacpp_server, vllm_command
from delta_utils.stages import evaluate


@pytest.fixture(scope="module")
def hub_folder(tmp_path_factory):
    """SmolLM2-135M converted from its packaged GGUF, copied to a plain folder: what a hub snapshot looks like."""
    dst = tmp_path_factory.mktemp("hub") / "SmolLM2-135M-Instruct"
    shutil.copytree(models.hf_dir("smollm2-135m"), dst, ignore=shutil.ignore_patterns("delta_lab_source.json"))
    return dst


def _profile(tmp_path, folder, **evaluate_over):
    data = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    data["name"] = "paperpaths"
    data["models"] = [{"name": "policy-folder", "family": "smollm2", "hub_id": str(folder), "params_m": 135}]
    data["train"]["policy"] = "policy-folder"
    data["train"]["hparams"].update({"max_steps": 2, "batch_size": 1, "precision": "fp32", "max_length": 128})
    data["train"]["runs"] = [{"name": "dpo_dist", "method": "dpo", "preference_set": "full"}]
    data["evaluate"] = {"sets": [{"name": "arith", "family": "arithmetic", "n": 3, "seed": 1001, "max_steps": 1}],
                        "sampling": {"temperature": 0.0, "max_tokens": 24}, "generators": False, **evaluate_over}
    p = tmp_path / "paperpaths.yaml"
    p.write_text(yaml.safe_dump(data))
    return load_profile(p)


def test_models_by_folder_or_hub_id(tmp_path, hub_folder, monkeypatch):
    prof = _profile(tmp_path, hub_folder)
    assert models.model_path("policy-folder") == hub_folder.resolve()
    ident = models.weights_identity("policy-folder")
    assert ident.startswith("policy-folder@folder:")
    assert models.weights_identity("smollm2-135m") == "smollm2-135m@b179c9523d0e"  # the packaged GGUF's sha256
    # a hub id names its revision in every cache identity
    data = yaml.safe_load((tmp_path / "paperpaths.yaml").read_text())
    data["models"].append({"name": "hub-model", "family": "x", "hub_id": "org/some-model", "revision": "abc123",
                           "params_m": 8000})
    (tmp_path / "p2.yaml").write_text(yaml.safe_dump(data))
    load_profile(tmp_path / "p2.yaml")
    assert models.weights_identity("hub-model") == "hub-model@org/some-model@abc123"
    from delta_utils.serving.engine import model_identity

    assert model_identity("hub-model", "vllm") == "hub-model@org/some-model@abc123"
    # offline, a hub id that is not in the local cache fails with what to do, not a traceback from the hub client
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(models.ModelError, match="local folder"):
        models.model_path("hub-model")
    # a path that is not there is an error naming it
    data["models"][-1] = {"name": "gone", "family": "x", "hub_id": str(tmp_path / "nope"), "params_m": 1}
    (tmp_path / "p3.yaml").write_text(yaml.safe_dump(data))
    load_profile(tmp_path / "p3.yaml")
    with pytest.raises(models.ModelError, match="looks like a folder"):
        models.model_path("gone")
    assert prof.train.policy == "policy-folder"


def test_vllm_command_lines(tmp_path):
    assert vllm_command("org/m", port=8001, revision="r1", served_name="base", max_model_len=32768,
                        tensor_parallel_size=4) == [
        "vllm", "serve", "org/m", "--host", "127.0.0.1", "--seed", "0", "--port", "8001", "--revision", "r1",
        "--served-model-name", "base", "--max-model-len", "32768", "--tensor-parallel-size", "4"]
    lora = vllm_command("/models/base", lora={"run_a": "/runs/a/final"}, max_lora_rank=64)
    assert lora[lora.index("--enable-lora"):] == ["--enable-lora", "--max-lora-rank", "64", "--max-loras", "1",
                                                  "--lora-modules", "run_a=/runs/a/final"]


def _torchrun(profile_path, env):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "-m", "delta_utils.stages.train", "--profile", str(profile_path)]
    return subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, hub_folder):
    """One DPO run trained by two processes (DDP over gloo), the policy loaded from a folder."""
    tmp = tmp_path_factory.mktemp("dist")
    env = dict(os.environ, DELTA_LAB_RUNS=str(tmp / "runs"), TQDM_DISABLE="1", OMP_NUM_THREADS="1")
    old = os.environ.get("DELTA_LAB_RUNS")
    os.environ["DELTA_LAB_RUNS"] = env["DELTA_LAB_RUNS"]
    try:
        prof = _profile(tmp, hub_folder)
        _write_set(prof, "full", _pairs(4))
        r = _torchrun(tmp / "paperpaths.yaml", env)
        yield tmp, prof, r
    finally:
        os.environ.pop("DELTA_LAB_RUNS") if old is None else os.environ.__setitem__("DELTA_LAB_RUNS", old)


@pytest.mark.slow
def test_two_process_training_writes_one_loadable_model(trained):
    tmp, prof, r = trained
    assert r.returncode == 0, r.stderr[-3000:]
    run = prof.run_dir() / "04_train" / "dpo_dist"
    meta = json.loads((run / "run.json").read_text())
    assert meta["processes"] == 2 and meta["distributed"].endswith("MULTI_CPU")
    assert meta["ref_logps_computed"] == 4 and meta["steps"] == 2
    assert r.stdout.count("ref_logps_computed") == 1  # the result table is printed by rank 0 only
    log = pd.read_csv(run / "log.csv")
    assert log["loss"].notna().sum() == 2
    # the reference store holds each pair's two log-probs once (rank 0 wrote it)
    with RecordCache(prof.run_dir() / "cache" / "ref_logps.sqlite") as store:
        assert len(store) == 8
    # nothing left behind but the record, the log and the final model
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint_of.json", "final", "log.csv", "run.json"]
    # final/ loads the way evaluation loads it (the LoRA adapter merged into the folder policy)
    from delta_utils.serving.engine import _load_hf_uncached

    tok, model = _load_hf_uncached(run / "final", "cpu")
    assert model.config.num_hidden_layers == 30 and tok("2 + 2").input_ids


@pytest.mark.slow
def test_vllm_evaluation_backend_over_the_openai_protocol(trained, monkeypatch):
    tmp, _, r = trained
    assert r.returncode == 0, r.stderr[-3000:]
    monkeypatch.setenv("DELTA_LAB_RUNS", str(tmp / "runs"))
    (tmp / "vllm").mkdir(exist_ok=True)
    prof = _profile(tmp / "vllm", models.model_path("policy-folder"), backend="vllm", concurrency=2)
    served = []

    @contextlib.contextmanager
    def stand_in(cmd, log_dir):  # no GPU here: llama.cpp serves the policy's weights in vLLM's place
        served.append(cmd)
        with llamacpp_server(models.gguf_path("smollm2-135m"), log_dir=log_dir, slots=2, ctx_per_slot=512) as url:
            yield url

    monkeypatch.setattr(evaluate, "vllm_server", stand_in)
    recs = evaluate.run(prof)
    final = prof.run_dir() / "04_train" / "dpo_dist" / "final"
    base_cmd, run_cmd = served
    assert base_cmd[:3] == ["vllm", "serve", str(models.model_path("policy-folder"))]
    assert base_cmd[base_cmd.index("--served-model-name") + 1] == "base"
    assert run_cmd[2] == str(models.model_path("policy-folder"))  # the base model, with the adapter on top
    assert f"dpo_dist={final}" in run_cmd and "--enable-lora" in run_cmd
    assert set(recs["model"]) == {"base", "dpo_dist"} and len(recs) == 6
    assert recs["text"].str.len().gt(0).all()
    # every answer is cached under the engine that produced it: a rerun starts no server
    served.clear()
    again = evaluate.run(prof)
    assert served == [] and again["text"].tolist() == recs["text"].tolist()
    assert all(ident.endswith("/vllm") for _, ident, _, _ in evaluate.checkpoints(prof).values())


@pytest.mark.slow
def test_stages_01_to_06_with_folder_models_behind_the_openai_protocol(runs_dir, tmp_path, hub_folder, monkeypatch):
    """A GPU profile's path end to end: generators and judge are local model folders reached over the OpenAI
    protocol (one through the stage's `openai` backend, one through its own `endpoint_env`; local llama.cpp
    servers answer), the policy is a local folder. Every cache identity names the weights, not the backend."""
    from delta_utils.serving.engine import model_identity
    from delta_utils.stages import generate, judge, pairing, train
    from delta_utils.study import analyze

    big = models.hf_dir("qwen2.5-coder-0.5b")
    data = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    data["name"] = "hubpath"
    data["models"] = [
        {"name": "gen-small", "family": "smollm2", "hub_id": str(hub_folder), "params_m": 135,
         "endpoint_env": "GEN_SMALL"},
        {"name": "gen-big", "family": "qwen2.5", "hub_id": str(big), "params_m": 494},
        {"name": "judge-folder", "family": "qwen2.5", "hub_id": str(big), "params_m": 494},
        {"name": "policy-folder", "family": "smollm2", "hub_id": str(hub_folder), "params_m": 135}]
    data["train_prompts"] = {"family": "arithmetic", "n": 4, "seed": 1, "min_steps": 1, "max_steps": 2}
    data["generation"] = {"backend": "openai", "generators": ["gen-small", "gen-big"], "rejected": "gen-small",
                          "sampling": {"temperature": 0.7, "max_tokens": 64, "n": 1}, "concurrency": 2}
    data["judge"] = {"backend": "openai", "model": "judge-folder", "samples": 1, "max_tokens": 96, "concurrency": 2}
    data["train"]["policy"] = "policy-folder"
    data["train"]["hparams"].update({"max_steps": 1, "batch_size": 2, "max_length": 192})
    data["train"]["runs"] = [{"name": "dpo_gen_big", "method": "dpo", "preference_set": "gen__gen-big"}]
    data["evaluate"] = {"sets": [{"name": "arith", "family": "arithmetic", "n": 2, "seed": 1001, "max_steps": 1}],
                        "sampling": {"temperature": 0.0, "max_tokens": 32}, "generators": True, "batch_size": 4}
    (tmp_path / "hubpath.yaml").write_text(yaml.safe_dump(data))
    prof = load_profile(tmp_path / "hubpath.yaml")
    logs = tmp_path / "servers"
    with llamacpp_server(models.gguf_path("smollm2-135m"), log_dir=logs, slots=2, ctx_per_slot=1024) as small, \
            llamacpp_server(models.gguf_path("qwen2.5-coder-0.5b"), log_dir=logs, slots=2, ctx_per_slot=1024) as qwen:
        monkeypatch.setenv("GEN_SMALL_BASE_URL", small)
        monkeypatch.setenv("GEN_SMALL_API_KEY", "local")
        monkeypatch.setenv("OPENAI_BASE_URL", qwen)
        monkeypatch.setenv("OPENAI_API_KEY", "local")
        traces = generate.run(prof)
        judgments, scores = judge.run(prof)
        sets = pairing.run(prof)
        train.run(prof)
        records = evaluate.run(prof)
    assert (prof.run_dir() / "01_generate" / "decontamination.jsonl").is_file()
    assert set(traces["model"]) == {"gen-small", "gen-big"} and traces["text"].str.len().gt(0).all()
    assert (judgments["status"] == "ok").any()
    assert len(sets["gen__gen-big"]) > 0
    assert set(records["model"]) == {"base", "dpo_gen_big", "gen-small", "gen-big"}
    paths = analyze.run(prof)
    assert paths
    # identities: folders by fingerprint, never "llamacpp" or the name of the OpenAI endpoint
    for m in ["gen-small", "gen-big", "judge-folder"]:
        assert model_identity(m, "openai").startswith(f"{m}@folder:")
    with RecordCache(prof.run_dir() / "cache" / "completions.sqlite") as cache:
        kinds = {r["model"] for r in cache.items().values()}
    assert any(k.startswith("gen-small@folder:") for k in kinds) and any(k.startswith("policy-folder@folder:")
                                                                        for k in kinds)


def test_contaminated_profile_fails_check_and_generation_unless_it_opts_out(runs_dir, tmp_path):
    from delta_utils.data.decontam import ContaminationError
    from delta_utils.stages.generate import decontaminate, train_problems

    items = tmp_path / "gsm8k.jsonl"
    items.write_text("".join(json.dumps({"question": f"Ann has {i} apples and buys {i + 3} more. How many apples "
                                                     "does Ann have now?", "answer": f"...\n#### {2 * i + 3}"}) + "\n"
                             for i in range(3)))
    data = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    data["name"] = "leaky"
    data["train_prompts"] = {"family": "benchmark", "benchmark": "gsm8k", "path": str(items)}
    data["evaluate"]["sets"].append({"name": "gsm8k_local", "family": "benchmark", "benchmark": "gsm8k",
                                     "path": str(items)})
    path = tmp_path / "leaky.yaml"
    path.write_text(yaml.safe_dump(data))
    cmd = [sys.executable, "-m", "delta_utils.runner.pipeline", "check", "--profile", str(path)]
    r = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, env=dict(os.environ))
    assert r.returncode == 2 and "3 of 3 training prompts" in r.stderr and "allow_eval_overlap" in r.stderr
    assert "on_overlap: drop" in r.stderr
    prof = load_profile(path)
    with pytest.raises(ContaminationError, match="allow_eval_overlap"):
        decontaminate(prof, train_problems(prof))
    data["train_prompts"]["allow_eval_overlap"] = True
    path.write_text(yaml.safe_dump(data))
    r = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert "3 of 3 training prompts" in r.stdout and "04_train" in r.stdout and "GPUs" in r.stdout
    kept, hits = decontaminate(load_profile(path), train_problems(prof))
    assert len(hits) == 3 and len(kept) == 3
    # procedural sets are disjoint by construction: the smoke profile plans 0 overlaps
    r = subprocess.run([*cmd[:-1], "smoke"], cwd=REPO_ROOT, capture_output=True, text=True, env=dict(os.environ))
    assert r.returncode == 0 and "0 of 6 training prompts" in r.stdout


def test_on_overlap_drop_leaves_the_overlapping_prompts_out_and_records_why(runs_dir, tmp_path):
    from delta_utils.stages.generate import decontaminate, train_problems

    train = tmp_path / "train.jsonl"
    rows = [{"question": f"Ann has {i} apples and buys {i + 3} more. How many apples does Ann have now?",
             "answer": f"...\n#### {2 * i + 3}"} for i in range(5)]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    bench = tmp_path / "bench.jsonl"  # two of the five training prompts are benchmark items
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows[1:3]))
    data = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    data["name"] = "dropper"
    data["train_prompts"] = {"family": "benchmark", "benchmark": "gsm8k", "path": str(train), "on_overlap": "drop"}
    data["evaluate"]["sets"].append({"name": "bench", "family": "benchmark", "benchmark": "gsm8k", "path": str(bench)})
    path = tmp_path / "dropper.yaml"
    path.write_text(yaml.safe_dump(data))
    prof = load_profile(path)
    out = tmp_path / "out"
    out.mkdir()
    kept, hits = decontaminate(prof, train_problems(prof), out)
    assert [p.id for p in kept] == ["gsm8k-0", "gsm8k-3", "gsm8k-4"] and len(hits) == 2
    from delta_utils.profile.rundir import read_table

    dropped = read_table(out / "decontamination_dropped.jsonl")
    assert list(dropped.train_id) == ["gsm8k-1", "gsm8k-2"]
    assert all(r.startswith("exact match with bench/gsm8k-") for r in dropped.reason)
    # `make check` reports the count and does not stop
    r = subprocess.run([sys.executable, "-m", "delta_utils.runner.pipeline", "check", "--profile", str(path)],
                       cwd=REPO_ROOT, capture_output=True, text=True, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert "on_overlap: drop -> 01_generate drops 2 of 5 training prompts; 3 remain" in r.stdout


def test_procedural_eval_sets_leave_out_training_questions(tmp_path):
    data = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    data["name"] = "sameseed"
    same = {"family": "arithmetic", "n": 6, "seed": 1, "min_steps": 1, "max_steps": 2}
    data["evaluate"]["sets"] = [{"name": "same_as_train", **same, "n": 10}]
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data))
    prof = load_profile(tmp_path / "p.yaml")
    from delta_utils.stages.generate import train_problems

    train_q = {p.question for p in train_problems(prof)}
    kept = evaluate.eval_sets(prof)["same_as_train"]
    assert len(kept) == 4 and not train_q & {p.question for p in kept}  # same seed: the first 6 are the prompts


def test_vllm_runs_from_its_own_venv(tmp_path, monkeypatch):
    """DELTA_LAB_VLLM names the `vllm` of vLLM's own venv; `vllm_server` runs it with the command's arguments (a
    stand-in script here: it answers /health on the port it is given and records its argv)."""
    from delta_utils.serving import serve

    argv_file = tmp_path / "argv.json"
    fake = tmp_path / "vllm"
    fake.write_text(f"""#!{sys.executable}
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
json.dump(sys.argv[1:], open({str(argv_file)!r}, "w"))
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[sys.argv.index("--port") + 1])), H).serve_forever()
""")
    fake.chmod(0o755)
    monkeypatch.setenv("DELTA_LAB_VLLM", str(fake))
    assert serve.vllm_executable() == str(fake)
    with serve.vllm_server(vllm_command("org/m", max_model_len=4096), log_dir=tmp_path, startup_timeout=30) as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    args = json.loads(argv_file.read_text())
    assert args[:2] == ["serve", "org/m"] and args[args.index("--max-model-len") + 1] == "4096"
    monkeypatch.setenv("DELTA_LAB_VLLM", str(tmp_path / "missing"))
    with pytest.raises(serve.ServerError, match="DELTA_LAB_VLLM"):
        serve.vllm_executable()
    monkeypatch.delenv("DELTA_LAB_VLLM")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(serve.ServerError, match="requirements-vllm.txt"):
        serve.vllm_executable()
