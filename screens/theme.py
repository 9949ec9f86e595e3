"""The two looks of the patient screens: standard, and larger and clearer for low vision.

"Larger and clearer" is a high-contrast theme (white and pale colours on black, every text
at least 7:1 against its background, WCAG 2 AAA; ``tests/test_views.py`` computes it from
what the screens draw) with a roomier layout (the ``-easy-read`` class on the app, see
kiosk.tcss): more space between lines of choices, taller targets, shorter lines of text.
The patient switches with the button beside Back and Continue or with F2, on every screen;
the next patient starts with the standard view again.
"""

from __future__ import annotations

from textual.theme import Theme

from kiosk.i18n import _

STANDARD_THEME = "textual-dark"
HIGH_CONTRAST_THEME = "ims-high-contrast"
EASY_READ_CLASS = "-easy-read"
VIEW_KEY = "f2"

WHITE = "#ffffff"
BLACK = "#000000"

HIGH_CONTRAST = Theme(
    name=HIGH_CONTRAST_THEME,
    primary="#0a3a8c",  # dark blue: white on it is 11:1
    secondary="#0a3a8c",
    accent="#ffff00",  # focus: yellow edges, never the only sign of focus
    warning="#ffd166",
    error="#a00000",  # dark red: white on it is 8.6:1 (the DEMO banner)
    success="#006400",
    foreground=WHITE,
    background=BLACK,
    surface=BLACK,
    panel="#1a1a1a",
    boost="#ffffff10",
    dark=True,
    variables={
        "text": WHITE,
        "text-muted": "#e6e6e6",
        "text-disabled": "#c8c8c8",
        "text-primary": "#a8d0ff",
        "text-secondary": "#a8d0ff",
        "text-accent": "#ffff00",
        "text-warning": "#ffd166",
        "text-error": "#ff9a9a",
        "text-success": "#8cff8c",
        "foreground-muted": "#e6e6e6",
        "foreground-disabled": "#c8c8c8",
        "primary-muted": "#6b8fd6",
        "error-muted": "#4a0000",
        "success-muted": "#003a00",
        "warning-muted": "#4a3a00",
        "accent-muted": "#4a4a00",
        "button-foreground": WHITE,
        "button-color-foreground": WHITE,
        "button-focus-text-style": "bold reverse",
        "border": "#ffff00",
        "border-blurred": "#bfbfbf",
        "block-cursor-foreground": BLACK,
        "block-cursor-background": "#ffff00",
        "block-cursor-text-style": "bold",
        "block-cursor-blurred-foreground": WHITE,
        "block-cursor-blurred-background": "#0a3a8c",
        "block-hover-background": "#333333",
        "input-cursor-background": WHITE,
        "input-cursor-foreground": BLACK,
        "input-selection-background": "#0a3a8c",
        "scrollbar": "#bfbfbf",
        "scrollbar-hover": WHITE,
        "scrollbar-active": "#ffff00",
        "scrollbar-background": "#262626",
        "scrollbar-background-hover": "#262626",
        "scrollbar-background-active": "#262626",
        "footer-key-foreground": "#ffff00",
    },
)


def toggle_label(easy: bool) -> str:
    """The switch's label: what pressing it does."""
    return _("Standard view (F2)") if easy else _("Aa Bigger, clearer (F2)")


def toggle_hint(easy: bool) -> str:
    """The switch's key, for the hint line."""
    return _("F2: standard view") if easy else _("F2: bigger, clearer view")
