"""Which page shows an event's object, by its ``object_type``: the platform links every event
to it (the ``object_url`` filter), but the pages belong to the apps above, which register
them in their ``AppConfig.ready()``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectPage:
    url_name: str
    # The event's attribute that is the URL's one argument: the object's own id, or its
    # node's id for the objects that show on their node's page.
    argument: str


_PAGES: dict[str, ObjectPage] = {}


def object_page_register(*object_types: str, url_name: str, argument: str = "object_id") -> None:
    for object_type in object_types:
        _PAGES[object_type] = ObjectPage(url_name, argument)


def object_page(object_type: str) -> ObjectPage | None:
    return _PAGES.get(object_type)
