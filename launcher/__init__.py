"""Python helpers behind the run scripts: dry run + GPU memory plan, stage chaining, evaluation report.

Modules (each usable as ``python -m launcher.<name>``):

* :mod:`launcher.dry_run` – compose veRL's own Hydra config with the stage overrides, validate it with
  veRL's checks plus explicit batch-size rules, print it and a per-GPU memory estimate.
* :mod:`launcher.memory` – the per-GPU memory estimator (FSDP actor, reference, vLLM weights + KV cache,
  activations, logits).
* :mod:`launcher.gpu_plan` – the documented 7B / 4×A100-80GB plan (``docs/gpu_memory_plan.md``).
* :mod:`launcher.chain` – find the latest checkpoint of a finished stage and return HF weights for the next.
* :mod:`evaluation.eval_report` – turn ``trainer.val_only=True`` metrics into accuracy.csv/.md/.png.
* :mod:`evaluation.api_eval` – score any OpenAI-compatible chat endpoint on the test sets, same scorer and report
  (:mod:`evaluation.api_stub`: a fault-injecting local stub server; :mod:`evaluation.api_bench`: its speed).
"""
