"""Parse the patient screens' widget styles ahead of time, while Welcome waits.

Textual parses a widget class's ``DEFAULT_CSS`` the first time a widget of that class is
mounted, and rebuilds its rule map; on the kiosk that is the first Start, the first form
and the first list, each a key press that would otherwise take tens of milliseconds more
than the next. :func:`warm_styles` adds and parses those sources once, exactly as Textual
would when mounting (same location, tie-breaker and scope), so mounting later finds them
already parsed and the styles are the same either way.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from textual.dom import DOMNode
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.app import App


def _widget_classes() -> list[type[Widget]]:
    """Every loaded widget class from Textual and the kiosk's screens, whose default CSS
    is scoped to the class (unscoped CSS would reach widgets it was never mounted beside)."""
    found: list[type[Widget]] = []
    todo: list[type[Widget]] = [Widget]
    seen: set[type[Widget]] = set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo.extend(cls.__subclasses__())
        if not cls.__module__.startswith(("textual.", "screens.")):
            continue
        bases = DOMNode._css_bases(cls)
        if all(b.__dict__.get("SCOPED_CSS", True) for b in bases if b.__dict__.get("DEFAULT_CSS")):
            found.append(cls)
    return found


def warm_styles(app: App[Any]) -> int:
    """Add the default CSS of the loaded widget classes to ``app``'s stylesheet and parse
    it now; returns how many classes were warmed."""
    stylesheet = app.stylesheet
    classes = _widget_classes()
    for cls in classes:
        # DOMNode._get_default_css reads only ``_node_bases``: Textual's own list of
        # (location, css, tie-breaker, scope), without making a widget.
        node = SimpleNamespace(_node_bases=DOMNode._css_bases(cls))
        for read_from, css, tie_breaker, scope in DOMNode._get_default_css(node):  # type: ignore[arg-type]
            stylesheet.add_source(
                css, read_from=read_from, is_default_css=True, tie_breaker=tie_breaker,
                scope=scope,
            )  # fmt: skip
    _ = stylesheet.rules_map  # parse every source and build the selector map once
    return len(classes)
