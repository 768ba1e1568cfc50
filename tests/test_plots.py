"""The temperature explorer of notebook 01: a log-scale slider (T from 0.5 to 32 in even steps of
log T, not a linear one that jumps from 1 to 32 in a small drag) whose label is shown whole."""

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
widgets = pytest.importorskip("ipywidgets")


def test_temperature_explorer_slides_on_a_log_scale_with_a_whole_label():
    from distill.plots import temperature_explorer
    w = temperature_explorer(torch.randn(3, 4), torch.rand(3, 1, 8, 8), ["a", "b", "c", "d"])
    sliders = {c.description: c for c in w.children if isinstance(c, (widgets.FloatLogSlider, widgets.IntSlider))}
    T = sliders["temperature T"]
    assert isinstance(T, widgets.FloatLogSlider) and (T.base ** T.min, T.base ** T.max) == (0.5, 32)
    assert T.style.description_width == "initial" and sliders["image"].max == 2
