"""The recipe files are what veRL gets: every value of recipes/<stage>.yaml (over common.yaml) reaches the
override list the run script composes, per profile; the environment and trailing overrides win; the
in-process resolver (the memory plan's) composes the same list as the scripts; the banner shows the
resolved values.  Expected values are read from the YAML files here, not copied.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import launch_group
import recipes

REPO_ROOT = Path(__file__).resolve().parents[1]
HF_MODEL = "Qwen/Qwen2.5-7B-Instruct-1M"  # a hub id: the dry-run path checks no model, so nothing is prepared

# Setting -> the Hydra key it sets (the last assignment of the key is what veRL resolves).
HYDRA_KEY = {
    "ALGO": "algorithm.adv_estimator",
    "TRAIN_BATCH": "data.train_batch_size",
    "MAX_PROMPT_LEN": "data.max_prompt_length",
    "MAX_RESPONSE_LEN": "data.max_response_length",
    "LR": "actor_rollout_ref.actor.optim.lr",
    "MINI_BATCH": "actor_rollout_ref.actor.ppo_mini_batch_size",
    "MICRO_BATCH": "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu",
    "KL_COEF": "actor_rollout_ref.actor.kl_loss_coef",
    "ENTROPY_COEFF": "actor_rollout_ref.actor.entropy_coeff",
    "ROLLOUT_N": "actor_rollout_ref.rollout.n",
    "TEMPERATURE": "actor_rollout_ref.rollout.temperature",
    "TOP_P": "actor_rollout_ref.rollout.top_p",
    "TOP_K": "actor_rollout_ref.rollout.top_k",
    "GPU_MEM_UTIL": "actor_rollout_ref.rollout.gpu_memory_utilization",
    "ATTN_IMPL": "actor_rollout_ref.model.override_config.attn_implementation",
    "VAL_TEMPERATURE": "actor_rollout_ref.rollout.val_kwargs.temperature",
    "VAL_DO_SAMPLE": "actor_rollout_ref.rollout.val_kwargs.do_sample",
    "VAL_N": "actor_rollout_ref.rollout.val_kwargs.n",
    "PROJECT": "trainer.project_name",
    "N_GPUS": "trainer.n_gpus_per_node",
    "NNODES": "trainer.nnodes",
    "EPOCHS": "trainer.total_epochs",
    "SAVE_FREQ": "trainer.save_freq",
    "TEST_FREQ": "trainer.test_freq",
    "VAL_BEFORE_TRAIN": "trainer.val_before_train",
    "TOTAL_STEPS": "trainer.total_training_steps",  # empty: not set
    "VAL_MAX_SAMPLES": "data.val_max_samples",      # empty: not set
}


def load(name: str) -> dict:
    return yaml.load((REPO_ROOT / "recipes" / f"{name}.yaml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader)


def pick(value, profile):
    return value[profile] if isinstance(value, dict) and set(value) <= {"gpu", "cpu"} else value


def expected_runs(recipe: str, profile: str) -> list[dict]:
    """The files' values for each run of ``recipe`` (no environment): recipe over common, schedule last."""
    merged = {k: pick(v, profile) for k, v in {**load("common"), **load(recipe)}.items() if k[:1].isupper()}
    for key, value in merged.items():
        if isinstance(value, str) and value.startswith("${"):
            merged[key] = merged[value[2:-1]]
    spec = load(recipe)
    if "schedule" not in spec:
        return [merged]
    return [{**merged, "TOTAL_STEPS": "", **entry} for entry in pick(spec["schedule"], profile)]


def last(overrides: list[str], key: str) -> str | None:
    found = None
    for item in overrides:
        name, _, value = item.partition("=")
        if name.lstrip("+") == key:
            found = value
    return found


def script_runs(recipe: str, tmp_path: Path, *args: str, **env_extra: str) -> list[list[str]]:
    """The override lists ``run_scripts/<recipe>.sh`` composes (``PRINT_OVERRIDES=1``), one per run."""
    settings = {k for name in ("common", *recipes.RECIPES) for k in load(name)} | {"ANNEAL_SCHEDULE", "DRY_RUN"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERL_", "VLLM_")) and k not in settings}
    env.update(PRINT_OVERRIDES="1", RUNS_DIR=str(tmp_path / "runs"), EXPERIMENT="t", MODEL=HF_MODEL, **env_extra)
    proc = launch_group.run(["bash", f"run_scripts/{recipe}.sh", *args], cwd=REPO_ROOT, env=env,
                            timeout=launch_group.timeout_s(600))
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs, current = [], []
    for item in proc.stdout.split("\0"):
        if item:
            current.append(item)
        elif current:
            runs.append(current)
            current = []
    return runs


@pytest.mark.parametrize("profile", recipes.PROFILES)
@pytest.mark.parametrize("recipe", recipes.RECIPES)
def test_script_launches_the_recipe_files_values(recipe, profile, tmp_path):
    runs = script_runs(recipe, tmp_path, PROFILE=profile)
    want_runs = expected_runs(recipe, profile)
    assert len(runs) == len(want_runs)
    data_dir = (REPO_ROOT / load("common")["DATA_DIR"]).resolve()
    for overrides, want in zip(runs, want_runs):
        for setting, key in HYDRA_KEY.items():
            if want[setting] == "":
                assert last(overrides, key) is None, (setting, key)
            else:
                assert last(overrides, key) == want[setting], (recipe, profile, setting)
        for setting, key, split in (("TRAIN_FILES", "data.train_files", "train"),
                                    ("VAL_FILES", "data.val_files", "test")):
            people = want[setting] if isinstance(want[setting], list) else [want[setting]]
            assert last(overrides, key) == "[" + ",".join(f"{data_dir}/{n}ppl/{split}.parquet" for n in people) + "]"
        assert last(overrides, "actor_rollout_ref.rollout.max_model_len") == str(
            int(want["MAX_PROMPT_LEN"]) + int(want["MAX_RESPONSE_LEN"]))
        profile_list = load("common")[f"{profile}_overrides"]
        assert all(item.split("=")[0].lstrip("+") in {o.split("=")[0].lstrip("+") for o in overrides}
                   for item in profile_list)


def test_in_process_resolver_composes_what_the_script_launches(tmp_path):
    """The memory plan (planning/gpu_plan.py) resolves in-process; the scripts through bash: one list."""
    env_extra = dict(PROFILE="gpu", ROLLOUT_N="12", ANNEAL_SCHEDULE="1.05:1e-6:3 0.95:5e-7:")
    script = script_runs("stage3_anneal", tmp_path, "trainer.total_epochs=5", **env_extra)
    environ = {"MODEL": HF_MODEL, "EXPERIMENT": "t", **env_extra}
    planned = []
    for run in recipes.runs("stage3_anneal", "gpu", environ):
        out = tmp_path / "runs" / "t" / run.stage
        planned.append(recipes.compose(run, "gpu", str(out), environ=environ,
                                       trailing=["trainer.total_epochs=5"]).overrides)
    runtime_env = "ray_kwargs.ray_init.runtime_env."  # the shell's exported variables differ by design
    strip = lambda items: [i for i in items if not i.lstrip("+").startswith(runtime_env)]  # noqa: E731
    assert [strip(x) for x in script] == [strip(x) for x in planned]
    assert [last(x, "actor_rollout_ref.rollout.temperature") for x in script] == ["1.05", "0.95"]
    assert [last(x, "trainer.total_training_steps") for x in script] == ["3", None]
    assert {last(x, "actor_rollout_ref.rollout.n") for x in script} == {"12"}
    assert {last(x, "trainer.total_epochs") for x in script} == {"5"}  # the trailing override, last


def test_gpu_plan_reads_the_recipe_files():
    from planning.gpu_plan import stage_overrides

    for recipe in recipes.RECIPES:
        want = expected_runs(recipe, "gpu")[-1]  # stage 3: the last, coolest sub-run
        overrides = stage_overrides(recipe)
        for setting in ("ROLLOUT_N", "TEMPERATURE", "LR", "TRAIN_BATCH", "ALGO", "MAX_RESPONSE_LEN"):
            assert last(overrides, HYDRA_KEY[setting]) == want[setting], (recipe, setting)


def test_environment_wins_and_empty_means_unset():
    env = {"TEMPERATURE": "0.3", "TOP_K": "", "TRAIN_BATCH": "16", "VAL_MAX_SAMPLES": ""}
    settings = recipes.runs("stage2_hightemp", "cpu", env)[0].settings
    stage2 = expected_runs("stage2_hightemp", "cpu")[0]
    assert settings["TEMPERATURE"] == "0.3"
    assert settings["TOP_K"] == stage2["TOP_K"]          # empty: the file's value
    assert settings["MINI_BATCH"] == "16"                # ${TRAIN_BATCH} follows the environment
    assert settings["VAL_MAX_SAMPLES"] == ""             # set but empty: all (eval.sh's greedy run)
    assert recipes.runs("stage2_hightemp", "cpu", {})[0].settings["VAL_MAX_SAMPLES"] == stage2["VAL_MAX_SAMPLES"]


def test_schedule_entries_win_over_the_environment():
    runs = recipes.runs("stage3_anneal", "gpu", {"TEMPERATURE": "2.0", "LR": "1e-3"})
    assert [(r.settings["TEMPERATURE"], r.settings["LR"]) for r in runs] == [
        (e["TEMPERATURE"], e["LR"]) for e in expected_runs("stage3_anneal", "gpu")]
    assert [r.stage for r in runs][0] == f"stage3_anneal/1_T{runs[0].settings['TEMPERATURE']}_lr{runs[0].settings['LR']}"


@pytest.mark.parametrize("env, needle", [
    ({"ANNEAL_SCHEDULE": "1.1"}, "bad ANNEAL_SCHEDULE entry '1.1'"),
    ({"ANNEAL_SCHEDULE": "1.1:1e-6:2:9"}, "bad ANNEAL_SCHEDULE entry"),
    ({"ALGO": "ppo"}, "unknown ALGO 'ppo'"),
    ({"NODE_LOSS_GRACE": "soon"}, "NODE_LOSS_GRACE must be a number of seconds >= 0, not 'soon'"),
    ({"NODE_LOSS_GRACE": "-5"}, "NODE_LOSS_GRACE must be a number of seconds >= 0, not '-5'"),
])
def test_bad_setting_is_one_error_line(env, needle, tmp_path):
    full = {k: v for k, v in os.environ.items() if not k.startswith(("VERL_", "VLLM_"))}
    full.update(PROFILE="gpu", DRY_RUN="1", RUNS_DIR=str(tmp_path / "runs"), **env)
    proc = launch_group.run(["bash", "run_scripts/stage3_anneal.sh"], cwd=REPO_ROOT, env=full,
                            timeout=launch_group.timeout_s(600))
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0] and "Traceback" not in proc.stderr, proc.stderr[-2000:]


def test_unknown_recipe_is_named():
    with pytest.raises(recipes.RecipeError, match="unknown recipe 'stage4'"):
        recipes.runs("stage4", "gpu", {})


def test_banner_prints_the_values_after_trailing_overrides(tmp_path):
    run = recipes.runs("stage2_hightemp", "gpu", {"MODEL": HF_MODEL, "ROLLOUT_N": "16"})[0]
    composed = recipes.compose(run, "gpu", str(tmp_path), environ={"MODEL": HF_MODEL},
                               trailing=["actor_rollout_ref.rollout.temperature=0.6", "+trainer.nnodes=2"])
    lines = recipes.banner("stage2_hightemp", "gpu", "set by PROFILE=gpu", composed, str(tmp_path))
    text = "\n".join(lines)
    stage2 = expected_runs("stage2_hightemp", "gpu")[0]
    assert "T=0.6 " in text and f"T={stage2['TEMPERATURE']}" not in text
    assert f"batch: {stage2['TRAIN_BATCH']} x n=16" in text
    assert f"gpus: {stage2['N_GPUS']}x2" in text
    assert f"lr={stage2['LR']}" in text and f"model      : {HF_MODEL}" in text


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(["\\", "'", '"', "a", " ", "\n", "\t", "{", "}", "$", "é", "="]), max_size=16))
def test_hydra_quote_round_trips_through_hydras_own_parser(text):
    assume("${" not in text)  # OmegaConf interpolation: callers refuse or skip such values
    parsed = OverridesParser.create().parse_override("key=" + recipes.hydra_quote(text))
    assert parsed.value() == text


@pytest.mark.parametrize(("template", "prefilled"), [("instruct", True), ("base", True), ("base", False)])
def test_chat_template_override_gives_veRL_the_file_as_written(template, prefilled):
    from data_prep.templates import chat_template_path

    override = recipes.chat_template_override(template, prefilled)
    parsed = OverridesParser.create().parse_override(override)
    assert parsed.key_or_group == recipes.CHAT_TEMPLATE_KEY
    assert parsed.value() == chat_template_path(template, prefilled).read_text(encoding="utf-8")
