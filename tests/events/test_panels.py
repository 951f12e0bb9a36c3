"""The test clock page draws what apps above the events app register as panels (clearing:
"End the day" and the closed days), without the events app importing them."""

import pytest

from sandbox.events import panels


def test_clearing_registers_its_panels_once_in_its_slots():
    from clearing.clock_views import CLOSES_PANEL, END_DAY_PANEL

    assert panels._PANELS.count(END_DAY_PANEL) == 1 and END_DAY_PANEL.slot == "actions"
    assert panels._PANELS.count(CLOSES_PANEL) == 1 and CLOSES_PANEL.slot == "after"
    panels.clock_page_panel(END_DAY_PANEL)
    assert panels._PANELS.count(END_DAY_PANEL) == 1


def test_a_panel_for_a_slot_the_page_does_not_have_is_refused():
    with pytest.raises(ValueError):
        panels.clock_page_panel(
            panels.ClockPagePanel(slot="sidebar", template="x.html", context=lambda r, c: {})
        )
