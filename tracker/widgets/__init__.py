"""Widgets of the live tracker UI, one per module: the valence-arousal plane (``plane``),
the timelines (``timeline``), the info panels (``now_panel``, ``source_panel``,
``stats_panel`` on ``info_panel``) and the status bar (``status_bar``).

Charts are drawn on a braille :class:`~emotrack.tracker.widgets.canvas.Canvas` sized to the
widget, so what a chart shows is a pure function of its data and its size (the ``render_*``
functions). Everything is on DEAM's 1..9 scale: valence horizontal, arousal vertical, 5 in the
middle; the palette and the shared drawing helpers are ``drawing``'s.
"""
