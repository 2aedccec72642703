"""Alias kept for older code: input reading moved to :mod:`zedo_jax.inputs`, writing results
to :func:`zedo_jax.lifting.save_result`."""
from .inputs import (InputOptions, LiftInput, describe_default_camera,  # noqa: F401
                     load_input, load_json, load_npz, load_openpose_dir,
                     load_videopose3d_custom, make_input)
from .lifting import save_result as save_output  # noqa: F401  (alias)
