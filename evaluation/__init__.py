"""Evaluation reports: accuracy by number of people from veRL ``val_only`` runs, perturbation/LiMem
reports, and scoring hosted (OpenAI-compatible) models with the training reward. See README.md."""
