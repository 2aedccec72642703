"""Published camera parameters of the evaluation datasets, and the camera maths the loaders need.

Numbers are facts copied as numbers: Human3.6M's as published with VideoPose3D
(``common/h36m_dataset.py``: per camera focal length and principal point in pixels, radial
``k1..k3`` and tangential ``p1, p2`` distortion, resolution; per subject and camera the
orientation quaternion ``(w, x, y, z)`` rotating camera axes into the world and the camera centre
in world millimetres); MPI-INF-3DHP's test cameras from the dataset's test utilities (focal
length and principal-point offset in millimetres on a 10 mm wide sensor).

Everything here is NumPy (host-side data preparation); points are row vectors ``[..., 3]``.
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Camera:
    """One calibrated camera.

    Attributes:
      id: camera name (Human3.6M: the serial number).
      focal: ``(fx, fy)`` pixels.  center: ``(cx, cy)`` pixels.
      radial: ``(k1, k2, k3)``; tangential: ``(p1, p2)`` (Human3.6M model, see
        :func:`distort`). Zeros for a pinhole camera.
      size: ``(width, height)`` pixels.
    """

    id: str
    focal: tuple
    center: tuple
    radial: tuple = (0.0, 0.0, 0.0)
    tangential: tuple = (0.0, 0.0)
    size: tuple = (0, 0)

    @property
    def K(self) -> np.ndarray:
        """``[3, 3]`` float64 pinhole intrinsics."""
        return intrinsics(self.focal, self.center)

    @property
    def has_distortion(self) -> bool:
        return any(v != 0 for v in self.radial + self.tangential)


def intrinsics(focal, center) -> np.ndarray:
    """``[..., 3, 3]`` pinhole matrices from ``focal [..., 2]`` and ``center [..., 2]``."""
    focal = np.asarray(focal, np.float64)
    center = np.asarray(center, np.float64)
    K = np.zeros(np.broadcast_shapes(focal.shape, center.shape)[:-1] + (3, 3))
    K[..., 0, 0], K[..., 1, 1] = focal[..., 0], focal[..., 1]
    K[..., 0, 2], K[..., 1, 2] = center[..., 0], center[..., 1]
    K[..., 2, 2] = 1.0
    return K


# ----------------------------------------------------------------------------------------------
# Human3.6M
# ----------------------------------------------------------------------------------------------

#: The four Human3.6M cameras, in the order of VideoPose3D's ``positions_2d`` lists.
H36M_CAMERAS = (
    Camera("54138969", (1145.0494384765625, 1143.7811279296875),
           (512.54150390625, 515.4514770507812),
           (-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043),
           (-0.0009756988729350269, -0.00142447161488235), (1000, 1002)),
    Camera("55011271", (1149.6756591796875, 1147.5916748046875),
           (508.8486328125, 508.0649108886719),
           (-0.1942136287689209, 0.2404085397720337, 0.006819975562393665),
           (-0.0016190266469493508, -0.0027408944442868233), (1000, 1000)),
    Camera("58860488", (1149.1407470703125, 1148.7989501953125),
           (519.8158569335938, 501.40264892578125),
           (-0.2083381861448288, 0.25548800826072693, -0.0024604974314570427),
           (0.0014843869721516967, -0.0007599993259645998), (1000, 1000)),
    Camera("60457274", (1145.5113525390625, 1144.77392578125),
           (514.9682006835938, 501.88201904296875),
           (-0.198384091258049, 0.21832367777824402, -0.008947807364165783),
           (-0.0005872055771760643, -0.0018133620033040643), (1000, 1002)),
)

#: Per subject, per camera (same order as :data:`H36M_CAMERAS`): orientation quaternion
#: ``(w, x, y, z)`` (camera axes -> world) and camera centre in world millimetres.
H36M_EXTRINSICS = {
    "S1": (((0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088),
            (1841.1070556640625, 4955.28466796875, 1563.4454345703125)),
           ((0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205),
            (1761.278564453125, -5078.0068359375, 1606.2650146484375)),
           ((0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696),
            (-1846.7777099609375, 5215.04638671875, 1491.972412109375)),
           ((0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435),
            (-1794.7896728515625, -3722.698974609375, 1574.8927001953125))),
    "S5": (((0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332),
            (2097.3916015625, 4880.94482421875, 1605.732421875)),
           ((0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915),
            (2031.7008056640625, -5167.93310546875, 1612.923095703125)),
           ((0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576),
            (-1620.5948486328125, 5171.65869140625, 1496.43701171875)),
           ((0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092),
            (-1637.1737060546875, -3867.3173828125, 1547.033203125))),
    "S6": (((0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938),
            (1935.4517822265625, 4950.24560546875, 1618.0838623046875)),
           ((0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428),
            (1969.803955078125, -5128.73876953125, 1632.77880859375)),
           ((0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334),
            (-1769.596435546875, 5185.361328125, 1476.993408203125)),
           ((0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802),
            (-1721.668701171875, -3884.13134765625, 1540.4879150390625))),
    "S7": (((0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778),
            (1974.512939453125, 4926.3544921875, 1597.8326416015625)),
           ((0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508),
            (1937.0584716796875, -5119.7900390625, 1631.5665283203125)),
           ((0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278),
            (-1741.8111572265625, 5208.24951171875, 1464.8245849609375)),
           ((0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523),
            (-1734.7105712890625, -3832.42138671875, 1548.5830078125))),
    "S8": (((0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773),
            (2150.65185546875, 4896.1611328125, 1611.9046630859375)),
           ((0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615),
            (2219.965576171875, -5148.453125, 1613.0440673828125)),
           ((0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755),
            (-1571.2215576171875, 5137.0185546875, 1498.1761474609375)),
           ((0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708),
            (-1476.913330078125, -3896.7412109375, 1547.97216796875))),
    "S9": (((0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243),
            (2044.45849609375, 4935.1171875, 1481.2275390625)),
           ((0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801),
            (1990.959716796875, -5123.810546875, 1568.8048095703125)),
           ((0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915),
            (-1670.9921875, 5211.98583984375, 1528.387939453125)),
           ((0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822),
            (-1696.04345703125, -3827.099853515625, 1591.4127197265625))),
    "S11": (((0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467),
             (2098.440185546875, 4926.5546875, 1500.278564453125)),
            ((0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085),
             (2083.182373046875, -4912.1728515625, 1561.07861328125)),
            ((0.14943228662014008, -0.15650227665901184, 0.7681233882904053,
              -0.6026304364204407),
             (-1609.8153076171875, 5177.3359375, 1537.896728515625)),
            ((0.5894251465797424, -0.7818877100944519, 0.13991211354732513,
              -0.14715361595153809),
             (-1590.738037109375, -3854.1689453125, 1578.017578125))),
}


def quaternion_to_matrix(q) -> np.ndarray:
    """Unit quaternion(s) ``(w, x, y, z)`` ``[..., 4]`` -> rotation matrices ``[..., 3, 3]``
    (normalised first). ``R @ v`` rotates ``v`` like the quaternion product ``q v q*``."""
    q = np.asarray(q, np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def h36m_world_to_camera(subject: str, cam_index: int):
    """``(R [3, 3], t [3])`` with ``X_cam = X_world @ R.T + t`` (metres) for a Human3.6M
    subject (``'S1'`` ... ``'S11'``) and camera index 0-3.

    VideoPose3D's convention: the quaternion rotates camera axes into the world and the
    translation is the camera centre ``C`` in world millimetres, so
    ``X_cam = R_q^T (X_world - C / 1000)``.
    """
    if subject not in H36M_EXTRINSICS:
        raise ValueError(f"no Human3.6M camera extrinsics for subject {subject!r}; known: "
                         f"{sorted(H36M_EXTRINSICS)}")
    q, c = H36M_EXTRINSICS[subject][cam_index]
    Rq = quaternion_to_matrix(q)
    R = Rq.T
    return R, -R @ (np.asarray(c, np.float64) / 1000.0)


def h36m_camera_to_world(subject: str, cam_index: int):
    """Inverse of :func:`h36m_world_to_camera`: ``(R, t)`` with ``X_world = X_cam @ R.T + t``."""
    q, c = H36M_EXTRINSICS[subject][cam_index]
    return quaternion_to_matrix(q), np.asarray(c, np.float64) / 1000.0


# ----------------------------------------------------------------------------------------------
# Lens distortion (Human3.6M model as used to make VideoPose3D's ground-truth 2D)
# ----------------------------------------------------------------------------------------------

def distort(xy, radial, tangential):
    """Apply the Human3.6M distortion to normalised coordinates ``xy = (X/Z, Y/Z)`` ``[..., 2]``.

    ``r2 = |xy|^2``, ``d = xy * (1 + k1 r2 + k2 r2^2 + k3 r2^3 + p . xy) + p * r2`` (the model of
    the Human3.6M MATLAB code, also VideoPose3D's ``project_to_2d``; note the tangential term
    differs from OpenCV's). Pixels are then ``f * d + c``.
    """
    xy = np.asarray(xy, np.float64)
    k = np.asarray(radial, np.float64)
    p = np.asarray(tangential, np.float64)
    r2 = np.sum(xy ** 2, -1, keepdims=True)
    radial_f = 1 + k[0] * r2 + k[1] * r2 ** 2 + k[2] * r2 ** 3
    tan = np.sum(p * xy, -1, keepdims=True)
    return xy * (radial_f + tan) + p * r2


def undistort(xy_d, radial, tangential, iters: int = 50):
    """Invert :func:`distort` by fixed-point iteration: distorted normalised coordinates
    ``[..., 2]`` -> undistorted ``[..., 2]`` (converges to < 1e-9 for the Human3.6M lenses in
    the image area)."""
    xy_d = np.asarray(xy_d, np.float64)
    k = np.asarray(radial, np.float64)
    p = np.asarray(tangential, np.float64)
    xy = xy_d.copy()
    for _ in range(iters):
        r2 = np.sum(xy ** 2, -1, keepdims=True)
        radial_f = 1 + k[0] * r2 + k[1] * r2 ** 2 + k[2] * r2 ** 3
        tan = np.sum(p * xy, -1, keepdims=True)
        xy = (xy_d - p * r2) / (radial_f + tan)
    return xy


def project_pinhole(points, K) -> np.ndarray:
    """``[..., J, 3]`` camera-frame points, ``[..., 3, 3]`` K -> ``[..., J, 2]`` pixels."""
    points = np.asarray(points, np.float64)
    uvw = np.einsum("...ij,...nj->...ni", np.asarray(K, np.float64), points)
    return uvw[..., :2] / uvw[..., 2:3]


def project_distorted(points, cam: Camera) -> np.ndarray:
    """Pixels of camera-frame points ``[..., 3]`` through ``cam``'s lens model."""
    points = np.asarray(points, np.float64)
    xy = distort(points[..., :2] / points[..., 2:3], cam.radial, cam.tangential)
    return xy * np.asarray(cam.focal) + np.asarray(cam.center)


def undistort_pixels(uv, cam: Camera) -> np.ndarray:
    """Distorted pixel coordinates ``[..., 2]`` -> the pinhole pixels of the same rays, so that
    ``cam.K`` explains them (what ZeDO's pinhole model needs)."""
    uv = np.asarray(uv, np.float64)
    if not cam.has_distortion:
        return uv
    f, c = np.asarray(cam.focal), np.asarray(cam.center)
    xy = undistort((uv - c) / f, cam.radial, cam.tangential)
    return xy * f + c


# ----------------------------------------------------------------------------------------------
# MPI-INF-3DHP test set
# ----------------------------------------------------------------------------------------------

def _mm_camera(name, focal_mm, offset_mm, size, sensor_mm=10.0) -> Camera:
    px = size[0] / sensor_mm                      # pixels per millimetre
    return Camera(name, (focal_mm * px, focal_mm * px),
                  (size[0] / 2 + offset_mm[0] * px, size[1] / 2 + offset_mm[1] * px),
                  size=size)


#: Official test-set cameras: TS1-TS4 studio (2048 x 2048), TS5-TS6 outdoor (1920 x 1080).
#: Focal length and principal-point offset in millimetres on a 10 mm sensor, as published;
#: e.g. TS1: f = 1500.172 px, c = (1017.387, 1043.032) px.
MPI_INF_3DHP_TEST_CAMERAS = {
    **{f"TS{i}": _mm_camera(f"TS{i}", 7.32506, (-0.0322884, 0.0929296), (2048, 2048))
       for i in (1, 2, 3, 4)},
    **{f"TS{i}": _mm_camera(f"TS{i}", 8.770747185, (-0.104908645, 0.104899704), (1920, 1080))
       for i in (5, 6)},
}
