"""Research experiments built on zedo_jax (not part of the library)."""
