"""Clearing jobs: the list a tenant's dashboard shows, every job for operators, retries."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from clearing import jobs, selectors
from clearing.models import Job
from sandbox.api.views import ApiView, OutputModelSerializer
from sandbox.tenants.access import actor_for
from sandbox.tenants.api import TenantScopedView
from sandbox.tenants.permissions import IsOperator


class JobOutput(OutputModelSerializer):
    duration_seconds = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id", "kind", "label", "status", "triggered_by", "progress_done", "progress_total",
            "count", "root", "block_height", "note", "error", "created_at", "started_at",
            "finished_at", "duration_seconds", "retry_of",
        ]  # fmt: skip

    def get_duration_seconds(self, job: Job) -> float | None:
        return job.duration.total_seconds() if job.duration is not None else None


class JobListApi(TenantScopedView):
    """The clearing jobs your dashboard shows: the platform's closes, checks and
    settlements, and your own test clock closes (newest first, at most 200)."""

    @extend_schema(responses=JobOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(JobOutput(selectors.jobs_visible(tenant=self.tenant), many=True).data)


class OperatorJobListApi(ApiView):
    """Every clearing job, every tenant's included (newest first, at most 200)."""

    permission_classes = [IsOperator]

    @extend_schema(responses=JobOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(JobOutput(selectors.jobs_visible(operator=True), many=True).data)


class OperatorJobRetryApi(ApiView):
    """Run a failed job again: a new job, queued (the failed one stays in the history)."""

    permission_classes = [IsOperator]

    @extend_schema(responses={202: JobOutput})
    def post(self, request: Request, job_id: str) -> Response:
        job = jobs.job_retry(job=selectors.job_get(job_id), actor=actor_for(request))
        return Response(JobOutput(job).data, status=status.HTTP_202_ACCEPTED)
