"""Operators' runs: close a day, check the anchors, settle the due windows, now. Each is a
job for a worker (``clearing.jobs``); the answer is the queued job."""

from __future__ import annotations

from datetime import timedelta

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from clearing import jobs
from clearing.api.jobs import JobOutput
from clearing.encoding import today
from clearing.models import Job
from sandbox.api.views import ApiView
from sandbox.errors import ApplicationError
from sandbox.tenants.access import actor_for
from sandbox.tenants.permissions import IsOperator


class OperatorCloseApi(ApiView):
    """Close a day now (yesterday by default), and any earlier day still open. The close
    runs in the background: the answer is its queued job, which the jobs list follows."""

    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        date = serializers.DateField(required=False)

    @extend_schema(responses={202: JobOutput})
    def post(self, request: Request) -> Response:
        day = self.validated_input().get("date") or today() - timedelta(days=1)
        if day >= today():
            raise ApplicationError(f"{day} has not ended yet.", code="day_not_ended")
        job = jobs.job_submit(kind=Job.Kind.CLOSE, label=day.isoformat(), actor=actor_for(request))
        return Response(JobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class OperatorVerifyApi(ApiView):
    """Check every closed day and test clock close against the chain now (as the daily
    check does at 00:30): a job, whose result shows in the jobs list."""

    permission_classes = [IsOperator]

    @extend_schema(responses={202: JobOutput})
    def post(self, request: Request) -> Response:
        job = jobs.job_submit(kind=Job.Kind.VERIFY, label="all days", actor=actor_for(request))
        return Response(JobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class OperatorSettleApi(ApiView):
    """Settle every window whose settlement day has come, now."""

    permission_classes = [IsOperator]

    @extend_schema(responses={202: JobOutput})
    def post(self, request: Request) -> Response:
        job = jobs.job_submit(
            kind=Job.Kind.SETTLEMENT, label="due windows", actor=actor_for(request)
        )
        return Response(JobOutput(job).data, status=status.HTTP_202_ACCEPTED)
