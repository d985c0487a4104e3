"""Prompts: every template a run asks the model with, in named sets (`prompt_catalog`)."""
