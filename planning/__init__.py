"""GPU planning before a launch: the dry run on veRL's own composed config, vLLM's start-up checks, the
per-GPU memory estimate and the documented 7B plan. Each module is ``python -m planning.<name>``; see README.md."""
