"""The operators' recovery page: the restore drills' results and the backups on hand."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from clearing.recovery import selectors
from clearing.views import operator_only


@operator_only
def recovery(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "recovery/recovery.html",
        {
            "drills": selectors.drills_recent(limit=20),
            "last_drill": selectors.drill_last(),
            "backups": selectors.backups_on_hand(),
        },
    )
