"""Stage settings as data: resolve a recipe (``recipes/<name>.yaml`` over ``recipes/common.yaml``) for a
profile and an environment into veRL's Hydra override list.

One resolver for every reader: the run scripts (``python -m recipes``, once per run, from
``run_scripts/common.sh``), the dry run and memory plan (``planning/gpu_plan.py``) and the tests call
:func:`runs` and :func:`compose` in-process.  Precedence, lowest first: ``common.yaml``, the recipe file,
the environment (a non-empty value), a schedule entry (stage 3), the run script's trailing Hydra overrides.
"""
from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import yaml

RECIPES_DIR = Path(__file__).resolve().parent
REPO_ROOT = RECIPES_DIR.parent
RECIPES = ("stage1_warmup", "stage2_hightemp", "stage3_anneal", "paper_reinforce")
PROFILES = ("gpu", "cpu")
ALGOS = ("grpo", "reinforce_plus_plus")
REQUIRED = ("TRAIN_FILES", "VAL_FILES", "ROLLOUT_N", "TEMPERATURE", "LR")  # a recipe or the environment
# Set but empty means "all" for this one (eval.sh's greedy run); for every other key empty means unset.
EMPTY_IS_A_VALUE = ("VAL_MAX_SAMPLES",)
# Environment variables every Ray worker gets through the job's runtime environment (run_scripts/README.md)
RUNTIME_ENV_PREFIXES = ("VERL_", "VLLM_", "HF_", "TRANSFORMERS_", "TOKENIZERS_", "WANDB_", "KK_", "OMP_", "TQ_", "PYTHONPATH")
_REF = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")

# What the banner prints: the resolved value of each Hydra key (after the trailing overrides).
BANNER_KEYS = {
    "model": "actor_rollout_ref.model.path",
    "algorithm": "algorithm.adv_estimator",
    "gpus": "trainer.n_gpus_per_node",
    "nnodes": "trainer.nnodes",
    "batch": "data.train_batch_size",
    "n": "actor_rollout_ref.rollout.n",
    "T": "actor_rollout_ref.rollout.temperature",
    "top_p": "actor_rollout_ref.rollout.top_p",
    "top_k": "actor_rollout_ref.rollout.top_k",
    "lr": "actor_rollout_ref.actor.optim.lr",
    "kl": "actor_rollout_ref.actor.kl_loss_coef",
}


class RecipeError(ValueError):
    """A bad recipe name, setting or schedule: one line for the user."""


@dataclass
class Run:
    """One launch of a recipe: its folder name under runs/<EXPERIMENT>/ and its resolved settings."""

    stage: str
    settings: dict[str, str]
    after: str = ""  # the stage whose last weights this run starts from ("" = INIT_MODEL)


def _load(path: Path) -> dict:
    # BaseLoader keeps every scalar as the text written: 4e-7 stays "4e-7", True stays "True"
    with open(path, encoding="utf-8") as f:
        data = yaml.load(f, Loader=yaml.BaseLoader) or {}
    if not isinstance(data, dict):
        raise RecipeError(f"{path.name} is not a mapping of settings")
    return data


def _pick(value, profile: str):
    if isinstance(value, dict) and set(value) <= set(PROFILES) and value:
        if profile not in value:
            raise RecipeError(f"a setting has no {profile} value: {value}")
        return value[profile]
    return value


def recipe_file(name: str) -> Path:
    if name not in RECIPES:
        raise RecipeError(f"unknown recipe '{name}' (known: {', '.join(RECIPES)})")
    return RECIPES_DIR / f"{name}.yaml"


def common() -> dict:
    return _load(RECIPES_DIR / "common.yaml")


def _files(value, data_dir: str, split: str) -> str:
    people = value if isinstance(value, list) else [value]
    return " ".join(f"{data_dir}/{n}ppl/{split}.parquet" for n in people)


def _interpolate(text: str, resolve) -> str:
    return _REF.sub(lambda m: resolve(m.group(1)), text)


def resolve_settings(defaults: Mapping[str, object], profile: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Each UPPER_CASE key of ``defaults``: the environment's value if set (non-empty), else the file's."""
    out: dict[str, str] = {}
    busy: set[str] = set()

    def get(key: str) -> str:
        if key == "PROFILE":
            return profile
        if key in out:
            return out[key]
        env = environ.get(key)
        if env or (key in EMPTY_IS_A_VALUE and env is not None):
            out[key] = env
            return env
        if key not in defaults:
            raise RecipeError(f"{key} is not set (no recipe value and no environment variable)")
        if key in busy:
            raise RecipeError(f"{key} refers to itself")
        busy.add(key)
        value = _pick(defaults[key], profile)
        if key in ("TRAIN_FILES", "VAL_FILES"):
            value = _files(value, get("DATA_DIR"), "train" if key == "TRAIN_FILES" else "test")
        if not isinstance(value, str):
            raise RecipeError(f"{key} must be one value, not {value!r}")
        out[key] = _interpolate(value, get)
        return out[key]

    for key in defaults:
        if re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
            get(key)
    for key in REQUIRED:
        if key in environ or key in defaults:
            get(key)
    return out


def parse_schedule(text: str) -> list[dict[str, str]]:
    """ANNEAL_SCHEDULE's form, "T:LR:STEPS T:LR:STEPS ..." (STEPS empty: one epoch)."""
    entries = []
    for item in text.split():
        parts = item.split(":")
        if len(parts) > 3 or len(parts) < 2 or not parts[0] or not parts[1]:
            raise RecipeError(f"bad ANNEAL_SCHEDULE entry '{item}' (want TEMPERATURE:LR:STEPS)")
        entries.append({"TEMPERATURE": parts[0], "LR": parts[1], "TOTAL_STEPS": parts[2] if len(parts) == 3 else ""})
    if not entries:
        raise RecipeError("ANNEAL_SCHEDULE is empty")
    return entries


def runs(recipe: str | None, profile: str, environ: Mapping[str, str] | None = None) -> list[Run]:
    """The launches of ``recipe`` (None: common.yaml alone, for scripts that set their own) on ``profile``."""
    environ = os.environ if environ is None else environ
    if profile not in PROFILES:
        raise RecipeError(f"unknown profile '{profile}' (PROFILE must be cpu, gpu or auto)")
    base = common()
    spec = _load(recipe_file(recipe)) if recipe else {}
    defaults = {k: v for k, v in {**base, **spec}.items() if k[:1].isupper()}
    settings = resolve_settings(defaults, profile, environ)
    if settings.get("ALGO") not in ALGOS:
        raise RecipeError(f"unknown ALGO '{settings.get('ALGO')}' (grpo or reinforce_plus_plus)")
    after = spec.get("after", "")
    if "schedule" not in spec:
        _check_required(settings)
        return [Run(recipe or "", settings, after)]
    if environ.get("ANNEAL_SCHEDULE"):
        entries = parse_schedule(environ["ANNEAL_SCHEDULE"])
    else:
        entries = [{"TOTAL_STEPS": "", **entry} for entry in _pick(spec["schedule"], profile)]
    out = []
    for i, entry in enumerate(entries, 1):
        values = {**settings, **{k: str(v) for k, v in entry.items()}}  # the schedule wins over the environment
        _check_required(values)
        out.append(Run(f"{recipe}/{i}_T{values['TEMPERATURE']}_lr{values['LR']}", values, after))
    return out


def pick_run(recipe: str | None, index: int, profile: str, environ: Mapping[str, str] | None = None) -> Run:
    """Run ``index`` of ``recipe`` (None: the shared defaults alone, as eval.sh and smoke_cpu.sh use them)."""
    plan = runs(recipe, profile, environ)
    if not 0 <= index < len(plan):
        raise RecipeError(f"recipe '{recipe}' has {len(plan)} run(s), not a run {index}")
    return plan[index]


def _check_required(settings: Mapping[str, str]) -> None:
    for key in REQUIRED:
        if not settings.get(key):
            raise RecipeError(f"{key} is not set (no recipe value and no environment variable)")


def _is_zero(text: str) -> bool:
    try:
        return float(text) == 0
    except ValueError:
        return False


def hydra_list(items: Sequence[str]) -> str:
    return "[" + ",".join(items) + "]"


def hydra_quote(value: str) -> str:
    """``value`` as a single-quoted Hydra string.

    Hydra's grammar unescapes only ``\\'`` and the backslashes right before a quote or the closing quote
    (a lone ``\\`` elsewhere stays), so ``'`` becomes ``\\'`` and only a run of backslashes before a quote or
    at the end is doubled; tests/test_recipes.py checks this against Hydra's own override parser.
    """
    escaped = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
    escaped = re.sub(r"(\\+)\Z", lambda m: m.group(1) * 2, escaped)
    return f"'{escaped}'"


def runtime_env_overrides(environ: Mapping[str, str], python: str) -> list[str]:
    """What every Ray worker needs, on any node, through the job's runtime environment.

    veRL merges ray_kwargs.ray_init.runtime_env into ray.init's.  On a cluster started with `ray start`,
    workers inherit their own raylet's environment, not the launching shell's: the interpreter, the
    repository on PYTHONPATH (platforms.verl_cpu, reward_fns), and the settings below are passed explicitly.
    """
    python_abs = os.path.join(os.path.abspath(os.path.dirname(python) or "."), os.path.basename(python))
    out = [f"ray_kwargs.ray_init.runtime_env.py_executable={hydra_quote(python_abs)}"]
    for name in sorted(environ):
        if not name.startswith(RUNTIME_ENV_PREFIXES):
            continue
        value = environ[name]
        if "\n" in value or "${" in value:  # one line each; no OmegaConf interpolation
            continue
        if name.endswith(("_KEY", "_TOKEN", "_SECRET")):  # veRL prints ray.init's arguments into train.log
            continue
        out.append(f"+ray_kwargs.ray_init.runtime_env.env_vars.{name}={hydra_quote(value)}")
    return out


def node_loss_grace(text: str) -> str:
    """NODE_LOSS_GRACE checked: seconds, a finite number >= 0."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not math.isfinite(seconds) or seconds < 0:
        raise RecipeError(f"NODE_LOSS_GRACE must be a number of seconds >= 0, not {text!r}")
    return text


def repo_path(path: str) -> str:
    """``path`` made absolute the way the run scripts see it: relative to the repository (common.sh cd's there)."""
    return os.path.realpath(os.path.join(REPO_ROOT, path))


def embedded_model(name: str, settings: Mapping[str, str]) -> Path | None:
    """The folder of an embedded model name (smollm2, tiny) under MODELS_DIR; None for any other name."""
    folders = common().get("embedded_models", {})
    return Path(REPO_ROOT, settings["MODELS_DIR"], folders[name]) if name in folders else None


def model_path(name: str, settings: Mapping[str, str]) -> str:
    """An embedded name as its folder (prepared by the launch, launcher/launch.py); other names as given."""
    folder = embedded_model(name, settings)
    name = str(folder) if folder is not None else name
    return repo_path(name) if os.path.exists(os.path.join(REPO_ROOT, name)) else name


CHAT_TEMPLATE_KEY = "actor_rollout_ref.model.custom_chat_template"


def chat_template_override(template: str, think_prefilled: bool) -> str | None:
    """The override that installs the chat template the data was built for (None: the model's own is right)."""
    from data_prep.templates import chat_template_path

    path = chat_template_path(template, think_prefilled)
    if path is None:
        return None
    text = Path(path).read_text(encoding="utf-8")
    if "${" in text:
        raise RecipeError("chat template contains '${', which OmegaConf would interpolate")
    return f"{CHAT_TEMPLATE_KEY}={hydra_quote(text)}"


@dataclass
class Composed:
    """A run's Hydra overrides, the environment the launch needs, and what the banner/dry run report."""

    overrides: list[str]
    env: dict[str, str]
    settings: dict[str, str]
    model_path: str
    dtype_note: str = ""


def compose(run: Run, profile: str, out: str, *, environ: Mapping[str, str] | None = None,
            trailing: Sequence[str] = (), python: str | None = None,
            data_template: tuple[str, bool] | None = None) -> Composed:
    """The override list veRL gets for ``run`` (trailing overrides last: they win).

    Pure: the launch's checks (data, model, reward file, Ray; launcher/launch.py) run before it, and
    ``data_template`` is the (template, think_prefilled) the data was built for, which they read from the
    data files (a dry run takes TEMPLATE / PREFILL_THINK instead).  On the CPU profile it chooses the
    compute dtype (platforms/cpu_dtype.py).  Raises RecipeError or ValueError with one line.
    """
    environ = dict(os.environ if environ is None else environ)
    s = run.settings
    # Paths handed to veRL are absolute: Ray workers (on other nodes too, with a shared filesystem) do not
    # share the launching shell's working directory.
    out = repo_path(out)
    path = model_path(s["INIT_MODEL"], s)
    reward_file = repo_path(s["REWARD_FILE"])
    train = [repo_path(f) for f in s["TRAIN_FILES"].split()]
    val = [repo_path(f) for f in s["VAL_FILES"].split()]
    if data_template is None:
        if s["PREFILL_THINK"] not in ("0", "1"):
            raise RecipeError(f"PREFILL_THINK must be 0 or 1, not {s['PREFILL_THINK']!r}")
        if s["TEMPLATE"] not in ("instruct", "base"):
            raise RecipeError(f"TEMPLATE must be instruct or base, not {s['TEMPLATE']!r}")
        data_template = (s["TEMPLATE"], s["PREFILL_THINK"] == "1")
    chat_override = chat_template_override(*data_template)
    dtype_overrides: list[str] = []
    dtype_note = ""
    if profile == "cpu":
        from platforms.cpu_dtype import choose_cpu_dtype, dtype_overrides as cpu_dtype_overrides

        choice = choose_cpu_dtype(environ)
        dtype_overrides, dtype_note = cpu_dtype_overrides(choice.dtype), f"{choice.dtype} ({choice.reason})"
    env: dict[str, str] = {}
    if "wandb" in s["LOGGERS"].split(",") and not environ.get("WANDB_API_KEY"):
        env["WANDB_MODE"] = environ.get("WANDB_MODE") or "offline"
    env["WANDB_DIR"] = out
    env["VERL_FILE_LOGGER_PATH"] = f"{out}/metrics.jsonl"  # before the runtime env: the trainer is a Ray actor
    env["NODE_LOSS_GRACE"] = node_loss_grace(s["NODE_LOSS_GRACE"])  # memwatch's, on a RAY_ADDRESS cluster
    environ.update(env)
    micro = s["MICRO_BATCH"]
    overrides = [
        f"algorithm.adv_estimator={s['ALGO']}",
        f"data.train_files={hydra_list(train)}",
        f"data.val_files={hydra_list(val)}",
        f"data.train_batch_size={s['TRAIN_BATCH']}",
        f"data.max_prompt_length={s['MAX_PROMPT_LEN']}",
        f"data.max_response_length={s['MAX_RESPONSE_LEN']}",
        "data.filter_overlong_prompts=True",
        "data.truncation=error",
        f"actor_rollout_ref.model.path={path}",
        f"+actor_rollout_ref.model.override_config.attn_implementation={s['ATTN_IMPL']}",
        f"actor_rollout_ref.actor.optim.lr={s['LR']}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={s['MINI_BATCH']}",
        f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={micro}",
        # KL_COEF=0 drops the KL loss and with it the reference model (a whole forward pass).
        f"actor_rollout_ref.actor.use_kl_loss={'False' if _is_zero(s['KL_COEF']) else 'True'}",
        f"actor_rollout_ref.actor.kl_loss_coef={s['KL_COEF']}",
        "actor_rollout_ref.actor.kl_loss_type=low_var_kl",
        f"actor_rollout_ref.actor.entropy_coeff={s['ENTROPY_COEFF']}",
        "actor_rollout_ref.actor.checkpoint.save_contents=[model,optimizer,extra,hf_model]",
        "actor_rollout_ref.rollout.name=vllm",
        f"actor_rollout_ref.rollout.n={s['ROLLOUT_N']}",
        f"actor_rollout_ref.rollout.temperature={s['TEMPERATURE']}",
        f"actor_rollout_ref.rollout.top_p={s['TOP_P']}",
        f"actor_rollout_ref.rollout.top_k={s['TOP_K']}",
        f"actor_rollout_ref.rollout.gpu_memory_utilization={s['GPU_MEM_UTIL']}",
        f"actor_rollout_ref.rollout.tensor_model_parallel_size={s['TP_SIZE']}",
        # Unset, veRL gives vLLM the model's max_position_embeddings (1,010,000 for the
        # 1M model), and vLLM refuses to start when its KV cache cannot hold that.
        f"actor_rollout_ref.rollout.max_model_len={int(s['MAX_PROMPT_LEN']) + int(s['MAX_RESPONSE_LEN'])}",
        # Qwen2.5-*-1M configs carry dual_chunk_attention_config; vLLM then builds
        # dual-chunk rotary + attention layers that its current attention backends do
        # not take (on CPU it fails at start).  Below chunk_size (262,144) tokens the
        # result equals ordinary attention, which is what the HF actor computes, so
        # the rollout drops the key.  No effect on models without it.
        "+actor_rollout_ref.rollout.engine_kwargs.vllm.hf_overrides={dual_chunk_attention_config:null}",
        f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={micro}",
        f"actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu={micro}",
        f"actor_rollout_ref.rollout.val_kwargs.temperature={s['VAL_TEMPERATURE']}",
        f"actor_rollout_ref.rollout.val_kwargs.do_sample={s['VAL_DO_SAMPLE']}",
        f"actor_rollout_ref.rollout.val_kwargs.n={s['VAL_N']}",
        f"reward.custom_reward_function.path={reward_file}",
        "reward.custom_reward_function.name=compute_score",
        f"trainer.logger={hydra_list([x for x in s['LOGGERS'].split(',') if x])}",
        f"trainer.project_name={s['PROJECT']}",
        f"trainer.experiment_name={s['EXPERIMENT']}_{run.stage}",
        f"trainer.n_gpus_per_node={s['N_GPUS']}",
        f"trainer.nnodes={s['NNODES']}",
        f"trainer.total_epochs={s['EPOCHS']}",
        f"trainer.save_freq={s['SAVE_FREQ']}",
        f"trainer.test_freq={s['TEST_FREQ']}",
        f"trainer.val_before_train={s['VAL_BEFORE_TRAIN']}",
        "trainer.resume_mode=auto",
        f"trainer.default_local_dir={out}/checkpoints",
        f"trainer.rollout_data_dir={out}/rollouts",
        f"trainer.validation_data_dir={out}/validation",
        f"hydra.run.dir={out}/hydra",
    ]
    if s["TOTAL_STEPS"]:
        overrides.append(f"trainer.total_training_steps={s['TOTAL_STEPS']}")
    if s["BYPASS_OLD_LOGPROB"] == "1":  # valid when each step makes one on-policy update
        overrides.append("algorithm.rollout_correction.bypass_mode=True")
    if s["VAL_MAX_SAMPLES"]:  # a random subset across all N, the same every time
        overrides += [f"data.val_max_samples={s['VAL_MAX_SAMPLES']}", "data.validation_shuffle=True",
                      f"data.seed={s['DATA_SEED']}"]
    if chat_override:
        overrides.append(chat_override)
    base = common()
    expand = lambda items: [_interpolate(item, lambda k: s[k]) for item in items]  # noqa: E731
    if profile == "gpu":
        overrides += expand(base["gpu_overrides"])
    else:
        overrides += base["cpu_overrides"] + list(dtype_overrides)
        if not environ.get("RAY_ADDRESS"):
            overrides += base["cpu_own_ray_overrides"]
        if environ.get("GPU_PATH_ON_CPU", "0") == "1":
            gpu_only = set(base["gpu_only"])
            overrides += [o for o in expand(base["gpu_overrides"]) if o.split("=", 1)[0] not in gpu_only]
    overrides += runtime_env_overrides(environ, python or sys.executable)
    overrides += [f"+reward.custom_reward_function.reward_kwargs.{kv}" for kv in s["REWARD_KWARGS"].split()]
    overrides += list(trailing)  # the user's trailing overrides win
    return Composed(overrides, env, s, path, dtype_note)


def resolved(overrides: Sequence[str], key: str) -> str | None:
    """The value ``key`` ends up with in Hydra: its last assignment in ``overrides`` (None: unset/deleted)."""
    value = None
    for item in overrides:
        name, sep, rest = item.partition("=")
        if name.lstrip("+~") != key:
            continue
        value = None if name.startswith("~") else (rest if sep else value)
    return value


def banner(stage: str, profile: str, profile_reason: str, composed: Composed, out: str) -> list[str]:
    """The launch banner: the values veRL gets, after the trailing overrides."""
    v = {name: resolved(composed.overrides, key) for name, key in BANNER_KEYS.items()}
    rule = "=" * 70
    lines = [
        rule,
        f" stage      : {stage}",
        f" profile    : {profile} ({profile_reason})",
        f" model      : {v['model']}",
        f" algorithm  : {v['algorithm']}   gpus: {v['gpus']}x{v['nnodes']}   batch: {v['batch']} x n={v['n']}",
        f" sampling   : T={v['T']} top_p={v['top_p']} top_k={v['top_k']}   lr={v['lr']}   kl={v['kl']}",
    ]
    if composed.dtype_note:
        lines.append(f" dtype      : {composed.dtype_note}")
    lines += [f" output     : {out}", rule]
    return lines
