"""See inside a trained RNN: states and gates of every unit, gate saturation, units that
follow the text, and how far back the error of a loss travels (``rnnkit inspect``).

Modules, one concept each:

    trace          every state and gate of a recurrent layer, every step; dL/dh_t (BPTT)
    saturation     fractions of steps each gate is shut (< 0.1) or open (> 0.9)
    units          features of a text and the units that correlate with them
    gradient_flow  ||dL/dh_t|| by distance from the loss; the adding-problem study
    language       all of the above for a language model reading a text
    page           the self-contained HTML page
    plots          the same pictures as static matplotlib figures (docs, reports)
"""

from rnnkit.inspect.gradient_flow import last_step_flow, state_gradient_norms, vanishing_study
from rnnkit.inspect.language import TextInspection, inspect_language_model
from rnnkit.inspect.page import render_page
from rnnkit.inspect.saturation import GateSaturation, gate_saturation
from rnnkit.inspect.trace import DirectionTrace, Trace, state_gradients, trace
from rnnkit.inspect.units import correlations, rank_units, text_features

__all__ = ["DirectionTrace", "GateSaturation", "TextInspection", "Trace", "correlations",
           "gate_saturation", "inspect_language_model", "last_step_flow", "rank_units",
           "render_page", "state_gradient_norms", "state_gradients", "text_features", "trace",
           "vanishing_study"]
