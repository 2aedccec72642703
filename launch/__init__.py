"""Command-line entry points: thin absl wrappers around zedo_jax (``python -m launch.lift``)."""
