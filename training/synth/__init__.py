"""Synthetic training data: MNIST training digits and non-digits rendered as real uploads, then framed.

- strokes: ink coverage maps and stroke weight changes; media: paper, canvas, screen and camera.
- digits.render_digit, nondigits.render_nondigit: one random rendering each.
- bank.build_bank / load_or_build_bank: frames as the server makes them, with labels (10 = not a digit).

Independent of the evaluation set (training.evalset): nothing is imported from it or shared with it.
"""
