"""DSSTNE's network definition language: parse, validate, fill defaults, serialize. Imports neither
torch nor ray, so ``lamina --help`` and ``lamina config validate`` are instant."""
