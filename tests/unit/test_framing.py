"""Framing (training.framing, training.ink) through the public entry point `prepare_pixels`."""

from __future__ import annotations

import io

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter

from tests.conftest import DATA_DIR, dev_samples
from training import evalset
from training import ink as ink_module
from training.framing import FIT_SIDE, MNIST_CENTRE, stroke_width
from training.ink import find_ink
from training.preprocessing import PREPROCESS_MODES, prepare_pixels, resize_to_input, to_grayscale


def drawn_two(
    size: tuple[int, int], box: tuple[int, int, int, int], pen: int, paper: int = 255, ink: int = 0
) -> Image.Image:
    """A '2'-like figure (arc, diagonal, base) drawn inside `box` on a canvas of `size`."""
    image = Image.new("L", size, paper)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = box
    mid = (top + bottom) // 2
    draw.arc((left, top, right, mid + (mid - top) // 2), 180, 20, fill=ink, width=pen)
    draw.line([(right - pen, mid), (left, bottom), (right, bottom)], fill=ink, width=pen, joint="curve")
    return image


def centre_of_mass(pixels: NDArray[np.uint8]) -> tuple[float, float]:
    weights = pixels.astype(np.float64)
    total = weights.sum()
    rows, cols = np.indices(pixels.shape)
    return float((rows * weights).sum() / total), float((cols * weights).sum() / total)


def ink_extent(pixels: NDArray[np.uint8]) -> tuple[float, float]:
    """Height and width of the ink in pixels, counting an edge pixel by how much ink it holds."""
    return float(pixels.max(axis=1).sum() / 255), float(pixels.max(axis=0).sum() / 255)


def paper_photo(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A JPEG photo of blank paper: tinted, a lighting gradient, a soft shadow, sensor noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[-1 : 1 : height * 1j, -1 : 1 : width * 1j]
    light = (1 + 0.15 * x - 0.1 * y) * (1 - 0.2 * np.exp(-((x - 0.5) ** 2 + (y + 0.3) ** 2) / 0.3))
    rgb = np.array([230.0, 222.0, 205.0]) * light[..., None] + rng.normal(0, 6, (height, width, 1))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.7)).save(
        buffer, "JPEG", quality=70
    )
    return Image.open(io.BytesIO(buffer.getvalue()))


def test_polarity_is_detected_both_ways() -> None:
    dark_on_light = drawn_two((200, 160), (50, 30, 130, 130), pen=9)
    light_on_dark = Image.eval(dark_on_light, lambda v: 255 - v)
    assert find_ink(to_grayscale(dark_on_light)).dark_on_light is True
    assert find_ink(to_grayscale(light_on_dark)).dark_on_light is False
    framed = [prepare_pixels(image, "mnist") for image in (dark_on_light, light_on_dark)]
    assert all(p.framed and not p.blank for p in framed)
    # Either way round the frame shows light ink on black, and the same digit.
    assert framed[0].pixels[0, 0] == 0
    assert framed[0].pixels.max() == 255
    assert np.abs(framed[0].pixels.astype(int) - framed[1].pixels.astype(int)).max() <= 2


@pytest.mark.parametrize("box", [(10, 10, 80, 120), (330, 220, 430, 380), (200, 20, 240, 90)])
def test_off_centre_digit_lands_with_its_mass_at_mnists_centre(box: tuple[int, int, int, int]) -> None:
    prepared = prepare_pixels(drawn_two((480, 400), box, pen=8), "auto")
    assert prepared.framed
    assert not prepared.blank
    row, col = centre_of_mass(prepared.pixels)
    # MNIST's own convention, measured on its test split: pixel (14, 14) in index coordinates.
    assert abs(row - MNIST_CENTRE) < 0.5
    assert abs(col - MNIST_CENTRE) < 0.5


def test_aspect_ratio_is_kept_and_the_long_side_fits_20_pixels() -> None:
    tall = Image.new("L", (400, 400), 250)
    ImageDraw.Draw(tall).rectangle((120, 60, 131, 300), fill=20)  # a 12 x 241 px stroke
    for image, long_axis in ((tall, 0), (tall.rotate(90), 1)):
        extent = ink_extent(prepare_pixels(image, "auto").pixels)
        assert abs(extent[long_axis] - FIT_SIDE) <= 0.5
        assert extent[1 - long_axis] <= 3  # still a thin stroke, not stretched to a square


def test_hairlines_are_thickened_and_marker_strokes_thinned_towards_mnist() -> None:
    for pen in (1, 40):
        prepared = prepare_pixels(drawn_two((400, 400), (100, 60, 300, 340), pen=pen), "mnist")
        # MNIST's 5th-95th percentiles are 1.6-3.6 px; unframed, the hairline would be ~0.1 px.
        assert 1.6 <= stroke_width((prepared.pixels / 255).astype(np.float32)) <= 3.6, pen


def mnist_like_28() -> Image.Image:
    image = Image.new("L", (28, 28), 0)
    draw = ImageDraw.Draw(image)
    draw.ellipse((7, 4, 19, 24), outline=255, width=3)  # an off-centre light-on-dark '0'
    return image.filter(ImageFilter.GaussianBlur(0.6))


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_auto_leaves_a_28x28_mnist_image_exactly_as_raw(mode: str) -> None:
    image = mnist_like_28().convert(mode)
    auto, raw = prepare_pixels(image, "auto"), prepare_pixels(image, "raw")
    assert not auto.framed
    assert not auto.blank
    assert auto.pixels.dtype == np.uint8
    assert np.array_equal(auto.pixels, raw.pixels)
    assert np.array_equal(raw.pixels, resize_to_input(to_grayscale(image)))
    assert not np.array_equal(prepare_pixels(image, "mnist").pixels, raw.pixels)  # mnist would move it


def test_auto_frames_a_28x28_dark_on_light_image() -> None:
    prepared = prepare_pixels(Image.eval(mnist_like_28(), lambda v: 255 - v), "auto")
    assert prepared.framed
    assert not prepared.blank
    assert prepared.pixels[0, 0] == 0


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (300, 200), 255),
        Image.new("RGB", (640, 480), (0, 0, 0)),
        Image.new("L", (28, 28), 0),
        paper_photo(1),
    ],
    ids=["white-canvas", "all-black", "black-28x28", "paper-photo"],
)
@pytest.mark.parametrize("mode", ["auto", "mnist"])
def test_blank_input_is_reported_with_a_reason(image: Image.Image, mode: str) -> None:
    prepared = prepare_pixels(image, mode)  # type: ignore[arg-type]
    assert prepared.blank
    assert prepared.reason is not None
    assert "blank" in prepared.reason or "no digit" in prepared.reason
    assert prepared.pixels.shape == (28, 28)
    assert prepared.pixels.dtype == np.uint8


@pytest.mark.parametrize("seed", range(5))
def test_noisy_paper_photos_are_blank_but_a_pencil_digit_on_them_is_not(seed: int) -> None:
    photo = paper_photo(seed).convert("L")
    assert prepare_pixels(photo).blank
    pencil = np.asarray(photo, dtype=np.float32) - 70 * (
        np.asarray(drawn_two((640, 480), (300, 150, 400, 330), 6)) < 128
    )
    prepared = prepare_pixels(Image.fromarray(np.clip(pencil, 0, 255).astype(np.uint8)))
    assert not prepared.blank
    assert prepared.framed


def test_raw_mode_is_todays_path_and_only_calls_a_flat_image_blank() -> None:
    photo = paper_photo(0)
    raw = prepare_pixels(photo, "raw")
    assert not raw.framed
    assert not raw.blank
    assert raw.reason is None
    assert np.array_equal(raw.pixels, resize_to_input(to_grayscale(photo)))
    flat = prepare_pixels(Image.new("L", (50, 50), 255), "raw")
    assert flat.blank
    assert flat.reason


def test_light_strokes_on_a_transparent_canvas_are_found_in_the_alpha_channel() -> None:
    strokes = drawn_two((200, 200), (40, 30, 150, 170), pen=10, paper=0, ink=255)
    canvas = Image.new("RGBA", (200, 200), (255, 255, 255, 0))
    canvas.putalpha(strokes)  # white everywhere, visible only where drawn
    prepared = prepare_pixels(canvas, "auto")
    assert not prepared.blank
    assert prepared.framed
    assert prepared.pixels.max() == 255


def test_a_huge_photo_is_framed_like_its_small_version() -> None:
    small = drawn_two((400, 300), (150, 60, 260, 240), pen=10).convert("RGB")
    huge = small.resize((4000, 3000), Image.Resampling.BILINEAR)
    a, b = prepare_pixels(small).pixels.astype(int), prepare_pixels(huge).pixels.astype(int)
    assert np.abs(a - b).mean() < 8


def test_framing_is_deterministic_and_rejects_unknown_modes() -> None:
    photo = drawn_two((300, 300), (20, 20, 120, 200), pen=5)
    assert np.array_equal(prepare_pixels(photo).pixels, prepare_pixels(photo).pixels)
    assert set(PREPROCESS_MODES) == {"auto", "mnist", "raw"}
    with pytest.raises(ValueError, match="preprocess mode"):
        prepare_pixels(photo, "fancy")  # type: ignore[arg-type]


def test_mnist_fast_path_agrees_with_full_analysis() -> None:
    """The shortcut for MNIST-style uploads gives what the full ink analysis would have given."""
    from tests.conftest import DATA_DIR
    from training.mnist import load_split
    from training.preprocessing import clearly_mnist_like

    images = load_split(DATA_DIR, "test").images[:500]
    accepted = 0
    for pixels in images:
        if clearly_mnist_like(pixels):
            accepted += 1
            ink = find_ink(pixels)
            assert not ink.dark_on_light
            assert ink.blank_reason is None
    assert accepted >= 490  # the shortcut is the common case, not a rarity
    assert not clearly_mnist_like(255 - images[0])  # dark on light
    assert not clearly_mnist_like(np.zeros((28, 28), np.uint8))  # blank


# Regression tests for the failure modes of issue 9, on images built here (not by training.evalset).


def framed(image: Image.Image) -> NDArray[np.uint8]:
    prepared = prepare_pixels(image, "auto")
    assert not prepared.blank, prepared.reason
    assert prepared.framed
    return prepared.pixels


def frame_difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(framed(a).astype(int) - framed(b).astype(int)).mean())


def test_a_digit_cropped_to_its_ink_is_not_blank() -> None:
    """Ink to all four edges and on most pixels: the noise estimate must not count the ink."""
    tight = drawn_two((100, 140), (0, 0, 100, 140), pen=30)
    assert (np.asarray(tight) < 128).mean() > 0.5
    frame = framed(tight)
    row, col = centre_of_mass(frame)
    assert abs(row - MNIST_CENTRE) < 0.5
    assert abs(col - MNIST_CENTRE) < 0.5
    assert frame.sum() / 255 >= 60


def test_a_small_crop_the_digit_fills_edge_to_edge_is_not_blank() -> None:
    """Dev tight 123: a 19x38 crop of a thick 9 whose loop touches three edges and whose stem runs down
    the fourth. Too little paper is left to fit a lighting surface to; the fit followed the strokes,
    the paper's noise seemed as strong as the ink, and a clear 9 was answered blank."""
    sample = evalset.generate("tight", 124, split="dev", mnist_dir=DATA_DIR)[123]
    image = sample.image()
    assert image.size == (19, 38)
    assert sample.label == 9
    prepared = prepare_pixels(image)
    assert not prepared.blank, prepared.reason
    height, width = ink_extent(prepared.pixels)
    assert height >= 18.5  # the 20-pixel box, less a soft edge
    assert 8 <= width <= 16
    row, col = centre_of_mass(prepared.pixels)
    assert abs(row - MNIST_CENTRE) < 1
    assert abs(col - MNIST_CENTRE) < 1


@pytest.mark.parametrize(("index", "label"), [(36, 6), (5, 4), (16, 5)])
def test_lit_paper_beside_a_hard_shadow_does_not_turn_the_ink_light(index: int, label: int) -> None:
    """Dev shadow images whose lit paper (inside a loop, or a band along the shadow's edge) outvoted
    the pen as light ink: the frame showed the paper. The dark reading is the stroke-like one."""
    sample = evalset.generate("shadow", index + 1, split="dev", mnist_dir=DATA_DIR)[index]
    assert sample.label == label
    image = sample.image()
    assert find_ink(to_grayscale(image)).dark_on_light
    prepared = prepare_pixels(image)
    assert not prepared.blank
    row, col = centre_of_mass(prepared.pixels)
    assert abs(row - MNIST_CENTRE) < 1
    assert abs(col - MNIST_CENTRE) < 1


def dev_shadows() -> list[evalset.Sample]:
    return dev_samples("shadow", 293)


@pytest.mark.parametrize(("index", "label"), [(49, 2), (54, 4), (58, 9), (107, 1), (143, 4), (218, 9)])
def test_a_shadow_wedge_does_not_raise_the_threshold_above_the_digit(index: int, label: int) -> None:
    """Dev shadow images once answered blank: the broad window could not reach into the corners of
    the shadow's wedge, the wedges left behind counted as paper noise (5 sigma: 65-135 grey levels)."""
    sample = dev_shadows()[index]
    assert sample.label == label
    ink = find_ink(to_grayscale(sample.image()))
    assert ink.blank_reason is None
    assert ink.dark_on_light
    frame = prepare_pixels(sample.image()).pixels
    assert frame.sum() / 255 >= 40
    row, col = centre_of_mass(frame)
    assert abs(row - MNIST_CENTRE) < 1
    assert abs(col - MNIST_CENTRE) < 1


def test_marker_strokes_are_not_hollowed_into_outlines() -> None:
    """A 1 drawn with a marker half as wide as the crop stays a solid bar."""
    image = Image.new("L", (200, 400), 235)
    ImageDraw.Draw(image).rectangle((50, 30, 150, 370), fill=30)
    frame = framed(image)
    middle = frame[14]
    inside = np.flatnonzero(middle > 127)
    assert inside.size >= 3
    assert (middle[inside.min() : inside.max() + 1] > 127).all()  # one solid run, no hollow core


@pytest.mark.parametrize("radius", [34, 38, 42])
def test_a_9_with_its_loop_filled_by_a_marker_keeps_the_loop(radius: int) -> None:
    """A filled loop a little wider than the broad-region window: its broad level is only part of its
    darkness, and the loop once came out hollow (a 9 read as 5 or 7)."""
    mask = Image.new("L", (186, 249), 0)
    draw = ImageDraw.Draw(mask)
    draw.ellipse((64 - radius, 110 - radius, 64 + radius, 110 + radius), fill=255)
    draw.line((70, 130, 80, 175), fill=255, width=30)
    ink = np.asarray(mask.filter(ImageFilter.GaussianBlur(1.5)), dtype=np.float32) / 255
    rows, cols = np.indices(ink.shape)
    paper = 160 + 85 * (cols / 186 + rows / 249) / 2  # lit from one corner
    gray = np.asarray(paper * (1 - ink) + 20 * ink, dtype=np.uint8)

    strength = find_ink(gray).strength
    half = radius // 2
    assert (strength[110 - half : 110 + half, 64 - half : 64 + half] > 0.5).all()
    assert strength[165, 78] > 0.5  # and the tail


def test_light_pencil_on_textured_paper_is_ink() -> None:
    rng = np.random.default_rng(7)
    grain = Image.fromarray(np.clip(128 + 14 * rng.normal(size=(300, 300)), 0, 255).astype(np.uint8))
    paper = 215 + np.asarray(grain.filter(ImageFilter.GaussianBlur(1)), dtype=np.float64) - 128
    strokes = np.asarray(drawn_two((300, 300), (90, 60, 210, 240), pen=5)) < 128
    pencil = paper - 20 * strokes  # 20 levels darker than the paper
    assert prepare_pixels(Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8))).blank  # paper alone
    frame = framed(Image.fromarray(np.clip(pencil, 0, 255).astype(np.uint8)))
    assert frame.sum() / 255 >= 40


def test_ruled_and_squared_paper_lines_are_not_ink() -> None:
    clean = drawn_two((300, 360), (80, 70, 220, 290), pen=9, paper=240, ink=25)
    for grid in (False, True):
        ruled = np.asarray(clean, dtype=np.float64).copy()
        for y in range(20, 360, 55):
            ruled[y : y + 3] = np.minimum(ruled[y : y + 3], 130)
        if grid:
            for x in range(10, 300, 55):
                ruled[:, x : x + 3] = np.minimum(ruled[:, x : x + 3], 130)
        lined = Image.fromarray(ruled.astype(np.uint8))
        assert frame_difference(clean, lined) < 10, grid
        frame = framed(lined)
        assert max(frame[0].max(), frame[-1].max(), frame[:, 0].max(), frame[:, -1].max()) == 0


def test_ruled_lines_seen_close_up_are_not_ink() -> None:
    """Cropped close, two ruled lines are each wider than a thin rule (11 of 220 rows); they repeat
    alike, so they are ruling, not strokes."""
    digit = np.asarray(drawn_two((200, 220), (50, 30, 150, 190), pen=9, paper=235, ink=25))
    ruled = digit.copy()
    for top in (60, 150):
        ruled[top : top + 11] = np.minimum(ruled[top : top + 11], 175)

    strength = find_ink(ruled).strength

    assert strength[60:71, :40].max() == 0  # the lines, left of the digit
    assert strength[150:161, 160:].max() == 0
    assert frame_difference(Image.fromarray(digit), Image.fromarray(ruled)) < 20


def test_a_tight_z_shaped_2_keeps_its_top_and_base() -> None:
    """Two full-width bars of one width, as close-up ruling has, but at the crop's top and bottom,
    where a tight crop puts a digit's own bars."""
    image = Image.new("L", (166, 206), 235)
    draw = ImageDraw.Draw(image)
    draw.rectangle((3, 3, 162, 14), fill=25)
    draw.rectangle((3, 191, 162, 202), fill=25)
    draw.line((153, 9, 11, 197), fill=25, width=14)

    strength = find_ink(np.asarray(image)).strength

    assert (strength[5:13, 8:158] > 0.5).all()
    assert (strength[193:201, 8:158] > 0.5).all()


def test_a_hard_shadow_across_the_digit_is_not_ink_and_not_blank() -> None:
    """Regression (issue 9): the shadow's edge, enlarged from the coarse broad map as a ramp, left a
    thin band along the edge that won the polarity vote and was framed instead of the digit."""
    clean = drawn_two((320, 320), (90, 70, 230, 250), pen=12, paper=235, ink=30)
    y, x = np.mgrid[0:320, 0:320]
    shade = np.where(x + 0.4 * y > 200, 0.5, 1.0)  # a phone's shadow over the lower right half
    shadowed = Image.fromarray((np.asarray(clean, dtype=np.float64) * shade).astype(np.uint8))
    assert frame_difference(clean, shadowed) < 15


# Dev shadow images the quadratic lighting fit got wrong until stop 15: it followed the shadow's step
# and answered blank (115, 175), turned the lit side into light ink (39, 202, 249, 282, 292) or kept
# the shadowed paper as a filled band beside the digit (116, 139, 262, 280, 285).
EVENED_SHADOWS = (39, 115, 116, 139, 175, 202, 249, 262, 280, 282, 285, 292)


@pytest.mark.parametrize("index", EVENED_SHADOWS)
def test_a_hard_shadow_the_lighting_fit_follows_is_read_evenly_lit(index: int) -> None:
    sample = dev_shadows()[index]
    gray = to_grayscale(sample.image())
    ink = find_ink(gray)
    assert ink.blank_reason is None
    assert ink.dark_on_light
    # The ink found lies on dark pixels, as pen strokes do, not on paper however shadowed. (What the
    # served model reads in these frames is checked in tests/api/test_predict_kinds.py.)
    work = np.asarray(Image.fromarray(gray).resize(ink.strength.shape[::-1], Image.Resampling.BOX), np.float64)
    on_ink = ink.strength > 0.5
    lit_paper = np.percentile(work, 95)
    assert np.median(work[on_ink]) < 0.45 * lit_paper
    frame = prepare_pixels(sample.image()).pixels
    assert frame.sum() / 255 >= 40
    row, col = centre_of_mass(frame)
    assert abs(row - MNIST_CENTRE) < 1
    assert abs(col - MNIST_CENTRE) < 1


@pytest.mark.parametrize(
    ("subset", "index"), [("lowres", 25), ("lowres", 122), ("tight", 131), ("marker", 196), ("scribbles", 73)]
)
def test_what_the_even_lighting_would_hollow_keeps_the_first_reading(
    subset: str, index: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dev images beside a hard edge whose frames the evened reading, unguarded, would change (by
    31-44 grey levels per pixel): strokes wider than its window (blurry enlarged scans, a tight crop),
    where the two windows disagree, and lighting that leaves under a quarter of the light (a marker
    digit, a light scribble on black). Each keeps the frame of the first analysis."""
    sample = evalset.generate(subset, index + 1, split="dev", mnist_dir=DATA_DIR)[index]
    served = prepare_pixels(sample.image()).pixels
    monkeypatch.setattr(ink_module, "_dark_ink_evenly_lit", lambda work: None)
    assert np.array_equal(served, prepare_pixels(sample.image()).pixels)


def test_the_fast_grey_opening_is_the_plain_one() -> None:
    """`_open` pairs windows (log2 k passes); the definition takes each k x k square's extreme."""

    def plain(a: NDArray[np.float32], k: int) -> NDArray[np.float32]:
        for pick in (np.min, np.max):
            for axis in (0, 1):
                pad = [(0, 0), (0, 0)]
                pad[axis] = (k // 2, k - 1 - k // 2)
                windows = np.lib.stride_tricks.sliding_window_view(np.pad(a, pad, mode="edge"), k, axis=axis)
                a = pick(windows, axis=-1)
        return a

    rng = np.random.default_rng(0)
    for _ in range(200):
        height, width = (int(n) for n in rng.integers(1, 70, 2))
        k = int(rng.integers(1, 40))
        a = rng.normal(size=(height, width)).astype(np.float32)
        assert np.array_equal(ink_module._open(a, k), plain(a, k)), (height, width, k)


@pytest.mark.parametrize(
    "method",
    [
        Image.Resampling.NEAREST,
        pytest.param(
            Image.Resampling.BICUBIC,
            marks=pytest.mark.xfail(
                strict=True,
                reason="known failure (issue 9): a 0 whose ring covers most of the border starts the paper "
                "fit between ink and paper; starting the fit at the commonest level fixes it but cost 5-7 "
                "points on the dev split's shadow kind, even when taken only for a 5x flatter fit",
            ),
        ),
    ],
)
def test_an_enlarged_8x8_scan_without_margin_is_one_digit(method: Image.Resampling) -> None:
    """Blurry or blocky, ink to the edges: still a 0 with a hole, not blank or broken."""
    zero = np.array(
        [
            [0, 6, 14, 16, 16, 12, 3, 0],
            [2, 15, 9, 2, 3, 12, 13, 1],
            [8, 14, 0, 0, 0, 3, 16, 6],
            [11, 10, 0, 0, 0, 0, 14, 9],
            [12, 9, 0, 0, 0, 0, 13, 10],
            [9, 12, 0, 0, 0, 2, 15, 7],
            [4, 16, 8, 1, 3, 13, 14, 2],
            [0, 7, 15, 16, 16, 13, 3, 0],
        ]
    )
    scan = Image.fromarray((235 - zero * 12).astype(np.uint8)).resize((160, 160), method)
    frame = framed(scan)
    assert frame[14, 14] < 64  # the hole of the 0 is kept
    assert (frame[14] > 127).sum() >= 2
    assert frame.sum() / 255 >= 50
