#!/usr/bin/env bash
# The paper's final recipe (Logic-RL, arXiv 2502.14768), one long run instead of
# the blog post's three stages: REINFORCE++ from the instruct model, lr 4e-7,
# temperature 0.7 throughout, batch 8 x n 8, about 3,600 steps.
#   bash run_scripts/paper_reinforce.sh [hydra overrides...]
#   PROFILE=gpu DRY_RUN=1 bash run_scripts/paper_reinforce.sh
# Settings (GPU and CPU values), with the sources: recipes/paper_reinforce.yaml over
# recipes/common.yaml; each is an environment variable that wins over the files.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
kk_run_recipe paper_reinforce "$@"
