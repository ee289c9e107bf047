"""Drawing code of the synthetic shapes scenes (numpy + OpenCV, no file I/O).

A scene is built in layers, each painted with a *fill* drawn from one distribution
(colour uniform in RGB; texture flat, gradient, stripes or smooth noise), whatever the
layer is, so colour and texture say nothing about the class:

1. background: one fill over the whole image;
2. clutter (label 0): lines, irregular blobs and wide bands;
3. 3-6 shapes (circle, square, triangle, five-point star, ring), random size, rotation
   and position; later shapes occlude earlier ones, shapes may leave the image, and the
   mask holds the visible part only; a ring's hole shows what lies behind it;
4. optionally one thin line over everything (label 0: the mask stays honest, a shape
   pixel hidden by the line is background);
5. per-image brightness/contrast jitter and Gaussian noise.

Every fill is redrawn (a few tries) until its mean colour differs from the mean colour of
what it covers by ``min_contrast``, so objects are visible; the rule is the same for every
class, clutter included, so it adds no colour cue.
"""

import cv2
import numpy as np

CLASSES = ('background', 'circle', 'square', 'triangle', 'star', 'ring')
TEXTURES = ('flat', 'gradient', 'stripes', 'noise')  # the fill kinds, in `_fill`'s order
PALETTE = [[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200],
           [245, 130, 48]]

# Circumradius multipliers that give the shapes similar areas for the same radius
# (circle pi r^2 = 3.1 r^2; ring 2.4 r^2; square 2.4 r^2; triangle 2.4 r^2; star 2.3 r^2).
_POLY_SCALE = {'square': 1.1, 'triangle': 1.35, 'star': 1.3}
_STAR_INNER = 0.47
_RING_INNER = 0.5
# Texture probabilities (flat, gradient, stripes, noise), the same for every layer: flat
# fills dominate so that object outlines, not texture edges, are the strongest edges.
_TEXTURE_P = (0.4, 0.25, 0.15, 0.2)
# Shape centres stay this fraction of the side away from the border; large shapes still
# cross it, a shape centred outside would mostly be a sliver.
_CENTRE_MARGIN = 0.08
_SHIFT = 4  # OpenCV fixed-point bits: sub-pixel vertex positions
_ONE = 1 << _SHIFT


class ShapeSceneGenerator:
    """Renders (image, mask) pairs; all randomness comes from the generator passed in.

    Args:
        image_size: side of the square image.
        num_shapes: (min, max) shapes per image, inclusive.
        radius_range: (min, max) shape radius as a fraction of the image side.
        num_clutter: (min, max) unlabelled clutter items behind the shapes, inclusive.
        front_line_prob: chance of one thin line over the shapes (labelled background).
        noise_std: std of the per-pixel Gaussian noise (0-255 scale).
        jitter: (brightness, contrast) jitter: offset U(-b, b), gain U(1-c, 1+c).
        min_contrast: least RGB distance between a fill's mean colour and what it covers.
    """

    def __init__(self,
                 image_size: int = 96,
                 num_shapes: tuple[int, int] = (3, 6),
                 radius_range: tuple[float, float] = (0.12, 0.25),
                 num_clutter: tuple[int, int] = (1, 3),
                 front_line_prob: float = 0.2,
                 noise_std: float = 5.,
                 jitter: tuple[float, float] = (20., 0.2),
                 min_contrast: float = 90.) -> None:
        if image_size < 16:
            raise ValueError(f'image_size must be >= 16, got {image_size}')
        self.size = int(image_size)
        self.num_shapes = tuple(num_shapes)
        self.radius_range = tuple(radius_range)
        self.num_clutter = tuple(num_clutter)
        self.front_line_prob = front_line_prob
        self.noise_std = noise_std
        self.jitter = tuple(jitter)
        self.min_contrast = min_contrast
        ys, xs = np.mgrid[0:self.size, 0:self.size].astype(np.float32)
        # flat pixel coordinates in image sides, [0, 1)
        self._ys, self._xs = ys.ravel() / self.size, xs.ravel() / self.size

    # ----------------------------------------------------------------- fills
    def _fill(self, rng: np.random.Generator, idx: np.ndarray) -> np.ndarray:
        """A random fill evaluated at flat pixel indices ``idx``: (N, 3) float32 in [0, 255].

        Only the covered pixels are computed, which keeps a scene to a few milliseconds.
        """
        return self._fill_and_kind(rng, idx)[0]

    def _fill_and_kind(self, rng: np.random.Generator,
                       idx: np.ndarray) -> tuple[np.ndarray, int]:
        """`_fill` and its texture kind (an index into TEXTURES, the multi-task set's
        material)."""
        c1 = rng.uniform(0, 255, 3).astype(np.float32)
        kind = int(rng.choice(4, p=_TEXTURE_P))
        if kind == 0:  # flat
            return np.broadcast_to(c1, (idx.size, 3)), kind
        if kind == 3:  # smooth noise: a coarse random grid, bilinearly upsampled
            cells = int(rng.integers(3, 9))
            grid = rng.normal(0, rng.uniform(10, 25), (cells, cells, 3)).astype(np.float32)
            noise = cv2.resize(grid, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
            return np.clip(c1 + noise.reshape(-1, 3)[idx], 0, 255), kind
        angle = rng.uniform(0, 2 * np.pi)
        # projection on a random direction, in image sides; ranges over [-1.42, 1.42]
        proj = np.cos(angle) * self._xs[idx] + np.sin(angle) * self._ys[idx]
        if kind == 1:  # linear gradient across the image to an unrelated colour
            c2 = rng.uniform(0, 255, 3).astype(np.float32)
            t = (proj + np.sqrt(2)) / (2 * np.sqrt(2))
            return c1 + t[:, None] * (c2 - c1), kind
        # stripes of c1 and a nearby colour
        c2 = np.clip(c1 + rng.uniform(-45, 45, 3), 0, 255).astype(np.float32)
        period = rng.uniform(4, 12) / self.size
        on = (np.floor(proj / period + rng.uniform()) % 2).astype(np.float32)
        return c1 + on[:, None] * (c2 - c1), kind

    def _paint(self, rng: np.random.Generator, canvas: np.ndarray,
               region: np.ndarray) -> int | None:
        """Paint ``region`` (bool (S, S)) of ``canvas`` (S*S, 3) with a fill that stands out;
        returns the fill's texture kind (None for an empty region)."""
        idx = np.flatnonzero(region)
        if idx.size == 0:
            return None
        under = canvas[idx].mean(axis=0)
        for _ in range(8):
            values, kind = self._fill_and_kind(rng, idx)
            if np.linalg.norm(values.mean(axis=0) - under) >= self.min_contrast:
                break
        canvas[idx] = values
        return kind

    # ---------------------------------------------------------------- shapes
    def _poly_mask(self, pts: np.ndarray) -> np.ndarray:
        mask = np.zeros((self.size, self.size), np.uint8)
        cv2.fillPoly(mask, [np.round(pts * _ONE).astype(np.int32)], 1, cv2.LINE_8, _SHIFT)
        return mask.astype(bool)

    def _disc(self, cx: float, cy: float, r: float) -> np.ndarray:
        mask = np.zeros((self.size, self.size), np.uint8)
        cv2.circle(mask, (round(cx * _ONE), round(cy * _ONE)), round(r * _ONE), 1, -1,
                   cv2.LINE_8, _SHIFT)
        return mask.astype(bool)

    def shape_mask(self, cls: int, cx: float, cy: float, r: float,
                   angle: float) -> np.ndarray:
        """Bool (S, S) mask of class ``cls`` (1..5) centred at (cx, cy) px, radius r px."""
        name = CLASSES[cls]
        if name == 'circle':
            return self._disc(cx, cy, r)
        if name == 'ring':
            return self._disc(cx, cy, r) & ~self._disc(cx, cy, r * _RING_INNER)
        radius = r * _POLY_SCALE[name]
        if name == 'star':
            k = np.arange(10)
            radii = np.where(k % 2 == 0, radius, radius * _STAR_INNER)
            theta = angle + k * np.pi / 5
        else:
            n = 4 if name == 'square' else 3
            k = np.arange(n)
            radii = np.full(n, radius)
            theta = angle + k * 2 * np.pi / n
        pts = np.stack([cx + radii * np.cos(theta), cy + radii * np.sin(theta)], axis=1)
        return self._poly_mask(pts)

    # --------------------------------------------------------------- clutter
    def _line_mask(self, rng: np.random.Generator, thickness: int) -> np.ndarray:
        s = self.size
        p1, p2 = rng.uniform(-0.2 * s, 1.2 * s, (2, 2))
        mask = np.zeros((s, s), np.uint8)
        cv2.line(mask, tuple(np.round(p1 * _ONE).astype(int).tolist()),
                 tuple(np.round(p2 * _ONE).astype(int).tolist()), 1, int(thickness),
                 cv2.LINE_8, _SHIFT)
        return mask.astype(bool)

    def _blob_mask(self, rng: np.random.Generator) -> np.ndarray:
        """Union of 2-3 elongated ellipses: irregular, never a clean disc or polygon."""
        s = self.size
        mask = np.zeros((s, s), np.uint8)
        c = rng.uniform(0, s, 2)
        for _ in range(int(rng.integers(2, 4))):
            centre = c + rng.normal(0, 0.06 * s, 2)
            major = rng.uniform(0.06, 0.2) * s
            axes = (major, major * rng.uniform(0.25, 0.6))
            cv2.ellipse(mask, (round(centre[0] * _ONE), round(centre[1] * _ONE)),
                        (round(axes[0] * _ONE), round(axes[1] * _ONE)),
                        rng.uniform(0, 180), 0, 360, 1, -1, cv2.LINE_8, _SHIFT)
        return mask.astype(bool)

    def _clutter_mask(self, rng: np.random.Generator) -> np.ndarray:
        kind = rng.integers(3)
        if kind == 0:
            return self._line_mask(rng, int(rng.integers(1, 4)))
        if kind == 1:
            return self._blob_mask(rng)
        return self._line_mask(rng, int(rng.uniform(0.08, 0.3) * self.size))  # band

    # ----------------------------------------------------------------- scene
    def render(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One scene: image (S, S, 3) uint8 and mask (S, S) uint8 with values 0..5."""
        s = self.size
        canvas = np.array(self._fill(rng, np.arange(s * s)), dtype=np.float32)
        label = np.zeros((s, s), np.uint8)
        for _ in range(int(rng.integers(self.num_clutter[0], self.num_clutter[1] + 1))):
            self._paint(rng, canvas, self._clutter_mask(rng))
        for _ in range(int(rng.integers(self.num_shapes[0], self.num_shapes[1] + 1))):
            cls = int(rng.integers(1, len(CLASSES)))
            cx, cy = rng.uniform(_CENTRE_MARGIN * s, (1 - _CENTRE_MARGIN) * s, 2)
            r = rng.uniform(*self.radius_range) * s
            region = self.shape_mask(cls, cx, cy, r, rng.uniform(0, 2 * np.pi))
            self._paint(rng, canvas, region)
            label[region] = cls
        if rng.uniform() < self.front_line_prob:
            region = self._line_mask(rng, int(rng.integers(1, 3)))
            self._paint(rng, canvas, region)
            label[region] = 0
        return self._finish(rng, canvas.reshape(s, s, 3)), label

    def _finish(self, rng: np.random.Generator, canvas: np.ndarray) -> np.ndarray:
        bright, contrast = self.jitter
        gain = rng.uniform(1 - contrast, 1 + contrast)
        offset = rng.uniform(-bright, bright)
        noise = (rng.standard_normal(canvas.shape, dtype=np.float32) * self.noise_std
                 if self.noise_std > 0 else 0.)
        img = (canvas - 128.) * gain + 128. + offset + noise
        return np.clip(img + 0.5, 0, 255).astype(np.uint8)
