"""Parts of the test clock page that apps above this one draw (clearing: "End the day" and
the clock's closed days). They register a panel here in their ``AppConfig.ready()``; the
page includes each panel's template, so this app imports none of them.

A panel's template is rendered with the page's context plus ``panel``: what its
``context(request, clock)`` returned. Its links and forms reach its own views by URL name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from sandbox.events.models import TestClock

# Where a panel goes: "actions", in the writers' card under Advance and Attach (shown only to
# those who may change the clock); "after", a section under the page's cards (everyone).
SLOTS = ("actions", "after")


@dataclass(frozen=True)
class ClockPagePanel:
    slot: str
    template: str
    context: Callable[[HttpRequest, TestClock], dict[str, Any]]


_PANELS: list[ClockPagePanel] = []


def clock_page_panel(panel: ClockPagePanel) -> ClockPagePanel:
    """Register ``panel``; register in your AppConfig.ready(). Registering twice is a no-op."""
    if panel.slot not in SLOTS:
        raise ValueError(f"No slot {panel.slot!r} on the clock page; use one of {SLOTS}.")
    if panel not in _PANELS:
        _PANELS.append(panel)
    return panel


def clock_page_panels(request: HttpRequest, clock: TestClock) -> dict[str, list[dict[str, Any]]]:
    """Per slot, in registration order: each panel's template and its context."""
    by_slot: dict[str, list[dict[str, Any]]] = {slot: [] for slot in SLOTS}
    for panel in _PANELS:
        by_slot[panel.slot].append(
            {"template": panel.template, "context": panel.context(request, clock)}
        )
    return by_slot
