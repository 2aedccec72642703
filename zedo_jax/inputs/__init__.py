"""Lifting inputs: reading files, detector layouts, validation, the :class:`LiftInput` type.

Layers inside the package (each imports only those above it):

* :mod:`~zedo_jax.inputs.types` - :class:`LiftInput` (frozen) and :class:`InputOptions`;
* :mod:`~zedo_jax.inputs.layouts` - detector keypoint layouts -> Human3.6M-17
  (:func:`~zedo_jax.inputs.layouts.canonical_format` is the one alias resolver);
* :mod:`~zedo_jax.inputs.validation` - checks with one-line errors (also used by lifting);
* :mod:`~zedo_jax.inputs.tracking` - track ids of several people per frame (2D proximity);
* :mod:`~zedo_jax.inputs.assemble` - per-frame records or arrays -> :class:`LiftInput`;
* :mod:`~zedo_jax.inputs.readers` - one reader per source (npz, JSON frames, COCO results and
  annotations, OpenPose, VideoPose3D custom 2D) and :func:`load_input`, which dispatches on the path.
"""
from zedo_jax.inputs.assemble import assemble, describe_default_camera, make_input
from zedo_jax.inputs.readers import (load_input, load_json, load_npz, load_openpose_dir,
                                     load_videopose3d_custom)
from zedo_jax.inputs.tracking import assign_tracks
from zedo_jax.inputs.types import InputOptions, LiftInput
from zedo_jax.inputs.validation import validate_init_poses, validate_intrinsics, validate_keypoints

__all__ = ["InputOptions", "LiftInput", "assemble", "assign_tracks", "describe_default_camera", "load_input",
           "load_json", "load_npz", "load_openpose_dir", "load_videopose3d_custom", "make_input", "validate_init_poses",
           "validate_intrinsics", "validate_keypoints"]
