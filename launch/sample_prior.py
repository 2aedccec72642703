r"""Sample poses from a prior and compare their bone lengths with the training poses.

    python -m launch.sample_prior [--checkpoint PRIOR] [--n 1000] [--output samples.npz]

Predictor-corrector sampling by default (``--corrector_snr 0`` for Euler-Maruyama alone).
"""
import jax
import numpy as np
from absl import flags, logging

from zedo_jax import prior as prior_lib
from zedo_jax.core import sampling
from zedo_jax.runtime import files

from . import errors

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", None, "Prior directory or training workdir (default: shipped).")
flags.DEFINE_enum("weights", None, ["raw", "ema"], "Weights (default: what the prior holds).")
flags.DEFINE_integer("n", 1000, "Number of samples.")
flags.DEFINE_integer("steps", 1000, "Reverse-SDE steps.")
flags.DEFINE_float("corrector_snr", sampling.CORRECTOR_SNR, "Langevin corrector before each "
                   "reverse-SDE step (predictor-corrector); 0: Euler-Maruyama alone.")
flags.DEFINE_integer("seed", 0, "PRNG seed.")
flags.DEFINE_string("output", None, "Write the samples ([n, 17, 3] metres) to this .npz.")
flags.DEFINE_string("json", None, "Write the bone-length comparison to this JSON file.")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    for name in ("n", "steps"):
        if getattr(FLAGS, name) < 1:
            errors.fail(f"--{name} must be >= 1; got {getattr(FLAGS, name)}")
    if not 0 <= FLAGS.corrector_snr < 1:
        errors.fail(f"--corrector_snr must lie in [0, 1); got {FLAGS.corrector_snr}")
    for name in ("output", "json"):
        if getattr(FLAGS, name):
            errors.check_writable(getattr(FLAGS, name), f"--{name}")
    prior = prior_lib.load_prior(FLAGS.checkpoint, weights=FLAGS.weights)
    x = sampling.sample(prior.params, jax.random.PRNGKey(FLAGS.seed), net_config=prior.config,
                        sde=prior.sde, n=FLAGS.n, steps=FLAGS.steps,
                        corrector_snr=FLAGS.corrector_snr)
    x = np.asarray(x)
    res = sampling.bone_length_check(x, prior.stats)
    print(f"{'bone':<24}{'samples mm':>16}{'training mm':>16}{'|diff| mm':>11}")
    for r in res["bones"]:
        print(f"{r['bone']:<24}{r['sample_mean_mm']:>9.1f} ± {r['sample_std_mm']:<5.1f}"
              f"{r['train_mean_mm']:>9.1f} ± {r['train_std_mm']:<5.1f}{r['abs_diff_mm']:>10.1f}")
    print(f"mean |difference| over the 16 bones: {res['mean_abs_diff_mm']:.1f} mm "
          f"({res['n']} samples, {FLAGS.steps} steps, corrector snr {FLAGS.corrector_snr:g})")
    if FLAGS.output:
        files.save_npz(FLAGS.output, {"poses": x})
    if FLAGS.json:
        files.save_json(FLAGS.json, res, indent=2)


if __name__ == "__main__":
    errors.run_and_exit(main)
