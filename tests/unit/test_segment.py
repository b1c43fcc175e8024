"""Several digits in one image: pieces found, merged, split; single MNIST digits stay one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from tests.conftest import DATA_DIR
from training.evalset import split_pool
from training.evalset.numbers import HEIGHT, compose, generate_numbers
from training.mnist import MnistSplit
from training.preprocessing import IMAGE_SIZE, PreparedInput, PreparedPiece, PreparedSlot, prepare_pixels
from training.segment import MAX_PIECES, find_pieces, find_slots, may_hold_several, prefers_other


def _strip(*digits: NDArray[np.uint8]) -> NDArray[np.float32]:
    gap = np.zeros((28, 6), np.uint8)
    parts = [p for d in digits for p in (d, gap)][:-1]
    return np.concatenate(parts, axis=1).astype(np.float32) * np.float32(1 / 255)


def test_two_digits_side_by_side_are_two_pieces_left_to_right(mnist_test: MnistSplit) -> None:
    strip = _strip(mnist_test.images[0], mnist_test.images[1])
    assert may_hold_several(strip)
    pieces = find_pieces(strip)
    assert len(pieces) == 2
    assert pieces[0].box[2] <= pieces[1].box[0]
    assert pieces[0].box[0] < 28 <= pieces[1].box[0]


def test_a_detached_hat_stays_with_its_digit() -> None:
    five = np.zeros((40, 30), np.float32)
    five[5:8, 8:24] = 1  # the hat, not touching the body
    five[11:35, 8:11] = 1
    five[20:23, 8:22] = 1
    five[20:35, 20:23] = 1
    five[32:35, 8:22] = 1
    assert len(find_pieces(five)) == 1


def test_a_broken_off_stroke_beside_a_digit_is_not_a_second_digit() -> None:
    four = np.zeros((40, 40), np.float32)
    four[10:24, 8:10] = 1  # the open 4's left arm: narrow, lower than the digit, close by
    four[22:24, 12:30] = 1
    four[5:35, 22:24] = 1
    assert len(find_pieces(four)) == 1


def test_specks_and_a_dash_are_not_digits(mnist_test: MnistSplit) -> None:
    strip = _strip(mnist_test.images[0], np.zeros((28, 28), np.uint8))
    strip[14:16, 40:46] = 1.0  # a short dash after the digit
    strip[2, 50] = 1.0  # a speck
    assert len(find_pieces(strip)) == 1


def test_touching_digits_are_split_only_when_reading() -> None:
    pair = np.zeros((30, 50), np.float32)
    pair[5:25, 5:8] = pair[5:25, 17:20] = pair[5:8, 5:20] = pair[22:25, 5:20] = 1  # a 0
    pair[15:17, 19:35] = 1  # joined by a ligature
    pair[5:25, 34:37] = pair[5:8, 27:37] = pair[22:25, 27:45] = 1  # a 1 with a foot
    assert len(find_pieces(pair)) == 1
    parts = find_pieces(pair, split_wide=True)
    assert len(parts) == 2
    assert parts[0].box[2] <= parts[1].box[0] + 1


def _ring(canvas: NDArray[np.float32], top: int, left: int, height: int, width: int) -> None:
    """A 0: a rectangle outline, 3 pixels thick."""
    canvas[top : top + height, left : left + 3] = canvas[top : top + height, left + width - 3 : left + width] = 1
    canvas[top : top + 3, left : left + width] = canvas[top + height - 3 : top + height, left : left + width] = 1


def test_touching_digits_as_wide_as_tall_are_split_in_a_row() -> None:
    # Two touching 0s, 26 wide and 20 tall: not wide for their own height (1.3 < WIDE), but wider than
    # any one digit of a row whose tallest digit is 20 high.
    row = np.zeros((30, 70), np.float32)
    row[5:25, 5:8] = 1  # a 1
    _ring(row, 5, 20, 20, 14)
    _ring(row, 5, 32, 20, 14)  # shares a column with the first 0
    assert len(find_pieces(row, split_wide=True)) == 3
    alone = np.zeros((30, 40), np.float32)
    _ring(alone, 5, 5, 20, 14)
    _ring(alone, 5, 17, 20, 14)
    assert len(find_pieces(alone, split_wide=True)) == 1  # alone, nothing says it is not one wide digit


def test_a_digit_written_smaller_than_its_neighbours_is_still_a_digit() -> None:
    row = np.zeros((40, 60), np.float32)
    _ring(row, 5, 5, 30, 16)  # a tall 0
    _ring(row, 20, 30, 15, 12)  # a small one, half as tall, on the same line
    row[33:35, 48:56] = 1  # and a dash: no digit
    assert [p.box[0] for p in find_pieces(row)] == [5, 30]


def test_a_thin_one_beside_bold_digits_is_a_digit() -> None:
    # A 1 holds an eighth of a bold 0's ink, but it stands as tall as the 0: it is read, and counted.
    row = np.zeros((40, 60), np.float32)
    row[5:35, 8:10] = 1
    for offset in range(4):  # a 0 drawn with a 6-pixel marker
        _ring(row, 5 + offset, 25 + offset, 30 - 2 * offset, 22 - 2 * offset)
    assert [p.box[0] for p in find_pieces(row, split_wide=True)] == [8, 25]
    assert len(find_pieces(row)) == 2
    row[5:35, 8:10] = 0
    row[15:35, 8:11] = 1  # as much ink, but two thirds of the 0's height: a mark beside the digit
    assert [p.box[0] for p in find_pieces(row, split_wide=True)] == [25]
    row[:, 8:11] = 0
    row[:, 8:10] = 1  # a ruled line down the page, far taller than the digit: no 1 either
    assert [p.box[0] for p in find_pieces(row, split_wide=True)] == [25]


def test_a_digit_beside_touching_digits_is_weighed_against_one_digit() -> None:
    # Three touching 0s hold three digits' ink; a smaller 0 after them has a sixth of that, but nearly
    # half of one of them: it is a digit. So is the 1 before them, as tall as the row.
    row = np.zeros((34, 90), np.float32)
    row[5:29, 2:5] = 1
    for left in (10, 30, 50):
        _ring(row, 5, left, 24, 16)
    row[16:18, 26:30] = row[16:18, 46:50] = 1  # joined by ligatures
    _ring(row, 17, 72, 12, 9)
    assert [p.box[0] for p in find_pieces(row, split_wide=True)] == [2, 10, 26, 46, 72]


def test_a_cut_in_doubt_gets_the_other_reading() -> None:
    row = np.zeros((30, 90), np.float32)
    row[5:25, 3:6] = 1  # a 1, alone: no other reading
    _ring(row, 5, 12, 20, 26)  # a 0 wider than the row allows: the rules cut it, the other reading rejoins it
    row[5:25, 46:49] = row[14:16, 49:53] = 1  # a 1 joined to a 0: one piece for the rules, cut once the other way
    _ring(row, 5, 53, 20, 14)
    one, wide_zero, pair = find_slots(row)
    assert [p.box[0] for p in one.usual] == [3]
    assert one.other == ()
    assert len(wide_zero.usual) == 2
    [joined] = wide_zero.other
    assert joined.box == (12, 5, 38, 25)
    [together] = pair.usual
    assert together.box == (46, 5, 67, 25)
    assert [p.box[:3] for p in pair.other] == [(46, 5, 49), (49, 5, 67)]


@pytest.mark.parametrize(
    ("usual", "other", "expected"),
    [
        ([0.99], [0.98, 0.97], False),  # a sure whole beats two parts
        ([0.6], [0.98, 0.97], True),  # an unsure whole loses to two sure parts
        ([0.0], [0.5, 0.5], True),  # a refused whole loses to any reading
        ([0.9, 0.0], [0.8], True),  # a refused part sinks its reading
        ([0.4], [], False),  # no other reading: the usual one stands
    ],
)
def test_the_surer_reading_wins(usual: list[float], other: list[float], expected: bool) -> None:
    assert prefers_other(usual, other) is expected


def test_choose_pieces_indexes_the_candidates_slot_by_slot() -> None:
    def piece(left: int) -> PreparedPiece:
        return PreparedPiece(np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8), (left, 0, left + 1, 1))

    prepared = PreparedInput(
        np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8),
        framed=True,
        blank=False,
        reason=None,
        slots=(
            PreparedSlot((piece(0),), (piece(0), piece(5))),  # candidates 0 | 1, 2
            PreparedSlot((piece(10),)),  # 3
            PreparedSlot((piece(20), piece(25)), (piece(20),)),  # 4, 5 | 6
        ),
    )
    assert [p.box[0] for p in prepared.pieces] == [0, 10, 20, 25]
    assert [p.box[0] for p in prepared.candidates] == [0, 0, 5, 10, 20, 25, 20]
    assert prepared.choose_pieces([0.5, 0.9, 0.9, 0.7, 0.99, 0.99, 0.5]) == [1, 2, 3, 4, 5]
    assert prepared.choose_pieces([0.99, 0.9, 0.9, 0.7, 0.2, 0.99, 0.5]) == [0, 3, 6]


@pytest.mark.parametrize("width", [2, 3, 40, 500])
def test_a_dash_is_never_cut_into_many_pieces(width: int) -> None:
    dash = np.zeros((9, width + 4), np.float32)
    dash[2:5, 2 : 2 + width] = 1
    assert len(find_pieces(dash, split_wide=True)) == 1


def test_a_long_solid_bar_is_cut_into_parts_no_narrower_than_a_digit() -> None:
    bar = np.zeros((24, 204), np.float32)
    bar[2:22, 2:202] = 1  # 10 times wider than high
    parts = find_pieces(bar, split_wide=True)
    assert 2 <= len(parts) <= MAX_PIECES
    assert all(p.width >= 0.4 * p.height for p in parts)
    assert sum(p.width for p in parts) == 200


def test_one_upload_never_makes_more_than_max_pieces() -> None:
    bar = np.zeros((24, 2004), np.float32)
    bar[2:22, 2:2002] = 1  # 100 times wider than high
    assert len(find_pieces(bar, split_wide=True)) == MAX_PIECES


def test_no_single_mnist_test_digit_is_seen_as_several(mnist_test: MnistSplit) -> None:
    seen = [prepare_pixels(Image.fromarray(image)).digits_seen for image in mnist_test.images]
    assert len(seen) == 10000
    assert seen.count(1) == 10000


def test_segmenting_keeps_the_whole_image_input_bit_for_bit(mnist_test: MnistSplit) -> None:
    for image in mnist_test.images[:50]:
        plain = prepare_pixels(Image.fromarray(image))
        segmented = prepare_pixels(Image.fromarray(image), segment=True)
        assert np.array_equal(plain.pixels, image)
        assert np.array_equal(segmented.pixels, image)
        assert len(segmented.pieces) == 1
        assert segmented.pieces[0].pixels.shape == (IMAGE_SIZE, IMAGE_SIZE)


def test_compose_keeps_every_digit_and_a_gap_between_them(mnist_test: MnistSplit) -> None:
    rng = np.random.default_rng(0)
    digits = [mnist_test.images[i] for i in range(4)]
    strip = compose(digits, rng)
    assert strip.shape[0] == HEIGHT
    assert strip.sum() == sum(int(d.sum()) for d in digits)  # nothing cut off by the wobble
    assert len(find_pieces(strip.astype(np.float32) * np.float32(1 / 255))) == 4


def test_numbers_are_deterministic_and_drawn_from_their_split() -> None:
    first = generate_numbers(3, 0, split_pool(10000, "dev"), DATA_DIR)
    again = generate_numbers(3, 0, split_pool(10000, "dev"), DATA_DIR)
    final = generate_numbers(3, 0, split_pool(10000, "final"), DATA_DIR)
    assert [s.data for s in first] == [s.data for s in again]
    assert [s.number for s in first] != [s.number for s in final]
    assert all(2 <= len(s.number) <= 5 for s in first + final)
    assert set(split_pool(10000, "dev").tolist()).isdisjoint(split_pool(10000, "final").tolist())


@pytest.mark.parametrize("index", range(4))
def test_a_photographed_number_is_cut_into_its_digits(index: int) -> None:
    [sample] = generate_numbers(index + 1, 7, split_pool(10000, "dev"), DATA_DIR)[index:]
    prepared = prepare_pixels(sample.image(), segment=True)
    assert len(prepared.pieces) == len(sample.number)
    lefts = [piece.box[0] for piece in prepared.pieces]
    assert lefts == sorted(lefts)
    width, height = sample.image().size
    assert all(0 <= p.box[0] < p.box[2] <= width and 0 <= p.box[1] < p.box[3] <= height for p in prepared.pieces)


def test_every_committed_real_world_sample_segments_into_one_piece() -> None:
    data = Path(__file__).resolve().parents[1] / "data"
    files = sorted(p for d in ("realworld", "realworld-kinds") for p in (data / d).glob("*/*") if p.suffix != ".md")
    assert len(files) >= 200
    counts = []
    for path in files:
        prepared = prepare_pixels(Image.open(path), segment=True)
        assert prepared.blank or prepared.pieces, path
        counts.append(len(prepared.pieces))
    # These are single digits: nearly all of them one piece (a cut sliver or a broken stroke is rare).
    assert sum(c == 1 for c in counts) >= 0.97 * len(counts)
