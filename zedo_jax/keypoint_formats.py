"""Alias kept for older code: the detector layouts moved to :mod:`zedo_jax.inputs.layouts`."""
from .inputs.layouts import *  # noqa: F401,F403
from .inputs.layouts import (ALIASES, CONFIDENCE_MODES, FORMATS, LAYOUTS,  # noqa: F401
                             canonical_format, face_spread, layout_warning, num_joints,
                             source_confidence, to_h36m)
