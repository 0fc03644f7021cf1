"""Knights-and-Knaves puzzle engine and veRL datasets for Logic-RL.

* ``python -m data_prep.build --out data/kk`` - synthetic train/test parquet files + dataset card.
* ``python -m data_prep.import_kk FILE.jsonl --out DIR`` - published K&K files -> the same schema.
* ``python -m data_prep.bench [--json]`` - generator speed.

Library entry points: :func:`data_prep.solver.solve`, :func:`data_prep.generator.generate_puzzles`,
:func:`data_prep.templates.chat_template_path`, :func:`data_prep.build.build_dataset`.
"""
