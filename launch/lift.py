r"""Lift 2D keypoints to 3D poses with ZeDO.

    python -m launch.lift                                   # the bundled demo, shipped prior
    python -m launch.lift --input IN.npz --output OUT.npz [--checkpoint PRIOR] \
        [--hypotheses 50] [--init_poses POSES.npy] [--ipo_steps 500] [--oil_steps 1000]

IN.npz: keypoints [N,17,2|3] pixels (+confidence), K [3,3] or [N,3,3], optional poses3d
[N,17,3] metres (then the metrics are printed). OUT.npz: poses [N,S,17,3] root-relative metres in
camera axes, translation [N,S,3], reprojection_error_px [N,S,17]. See zedo_jax.io.
"""
import os

from absl import app, flags, logging

from launch import common
from zedo_jax import checkpoint, io, lifting, metrics

FLAGS = flags.FLAGS
common.define_lift_flags()
flags.DEFINE_string("output", "zedo_lift.npz", "Output .npz.")

DEMO = os.path.join(checkpoint.ASSET_DIR, "demo.npz")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    path = FLAGS.input or DEMO
    inp = common.load_input(path)
    prior = common.load_prior()
    cfg = common.zedo_config()
    print(f"Lifting {len(inp)} frames from {path} with the prior at {prior.path} "
          f"({prior.config.hidden_dim}-wide, {prior.info.get('weights', FLAGS.weights)} weights)")
    out = lifting.lift(prior, inp.keypoints, inp.K, confidence=inp.confidence,
                       hypotheses=FLAGS.hypotheses, init_poses=common.init_poses(), config=cfg,
                       chunk_size=FLAGS.chunk_size)
    io.save_output(FLAGS.output, out, inp)
    S = out["poses"].shape[1]
    print(f"Wrote {FLAGS.output}: poses {list(out['poses'].shape)}, mean reprojection error "
          f"{out['reprojection_error_px'].mean():.2f} px, {out['seconds']:.1f}s")
    if inp.poses3d is not None:
        res = metrics.evaluate(out["poses"], inp.poses3d, common.eval_config())
        label = f"ZeDO S={S}" + (" (min over hypotheses)" if S > 1 else "")
        print(common.format_table([(label, res["summary"])]))


if __name__ == "__main__":
    app.run(main)
