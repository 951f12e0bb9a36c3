"""Key rotation: every data key re-wrapped under the new primary KEK, in batches, as a job
whose progress survives a killed run; the command, the task and the operators' API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from sandbox.errors import ApplicationError
from sandbox.identities import rotation, sealing, services
from sandbox.identities.data import Address
from sandbox.identities.models import BlindIndexKey, KeyRotationJob, NodeIdentity, Person
from sandbox.identities.tasks import rotate_keys
from sandbox.identities.vault import NodeIdentityData
from tests.factories import NodeFactory, TenantFactory
from tests.identities.factories import PersonFactory, person_data

pytestmark = pytest.mark.django_db

OLD = "o" * 40
NEW = "n" * 40


class Killed(BaseException):
    """The process dies: nothing after this line runs, nothing catches it."""


@pytest.fixture
def under_old_key(settings):
    """Seven people in two tenants, one erased, and a node identity, all sealed under OLD;
    then NEW is put first in the keyring."""
    settings.IDENTITIES_MASTER_KEY = [OLD]
    tenants = [TenantFactory(), TenantFactory()]
    people = [
        PersonFactory(tenant=tenants[i % 2], data=person_data(legal_name=f"사람{i}"))
        for i in range(7)
    ]
    services.erase(people[6], actor="test", reason="erased before the rotation")
    node = NodeFactory(tenant=tenants[0], country="KR")
    services.node_identity_set(
        node=node,
        data=NodeIdentityData(
            legal_name="주식회사 김치페이",
            registration_number="220-81-62517",
            address=Address("테헤란로 1", "서울", "06236", "KR"),
        ),
    )
    settings.IDENTITIES_MASTER_KEY = [NEW, OLD]
    return people


def kek_ids() -> set[str]:
    return (
        set(Person.objects.filter(wrapped_dek__isnull=False).values_list("kek_id", flat=True))
        | set(BlindIndexKey.objects.values_list("kek_id", flat=True))
        | set(NodeIdentity.objects.values_list("kek_id", flat=True))
    )


def test_a_rotation_rewraps_every_key_and_the_old_key_can_go(settings, under_old_key):
    new_id = sealing.keyring().primary
    assert rotation.rotation_pending() == 2 + 6 + 1  # index keys, live people, node identity
    job = rotation.rotation_start(requested_by="test", batch_size=4)
    job = rotation.rotation_run(job.pk)
    assert job.status == KeyRotationJob.Status.COMPLETED
    assert (job.processed, job.total, job.percent) == (9, 9, 100)
    assert kek_ids() == {new_id}
    settings.IDENTITIES_MASTER_KEY = [NEW]  # the old key leaves the configuration
    for i, person in enumerate(under_old_key[:6]):
        person.refresh_from_db()
        assert services.reveal(person, actor="t", purpose="t").legal_name == f"사람{i}"


def test_a_killed_rotation_resumes_where_it_stopped(monkeypatch, under_old_key):
    new_id = sealing.keyring().primary
    job = rotation.rotation_start(requested_by="test", batch_size=2)
    real_wrap = sealing.wrap
    calls = {"n": 0}

    def dies_on_the_fifth(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise Killed
        return real_wrap(*args, **kwargs)

    monkeypatch.setattr(sealing, "wrap", dies_on_the_fifth)
    with pytest.raises(Killed):
        rotation.rotation_run(job.pk)
    job.refresh_from_db()
    # Two full batches committed (both index keys, then two people); the third rolled back.
    assert job.status == KeyRotationJob.Status.RUNNING
    assert job.processed == 4
    assert job.phase == KeyRotationJob.Phase.PEOPLE
    assert len(kek_ids()) == 2  # half old, half new
    assert rotation.rotation_pending() == 5

    monkeypatch.setattr(sealing, "wrap", real_wrap)
    # A fresh run leaves a job whose heartbeat is fresh alone (it might be alive)...
    assert rotation.rotation_run(job.pk).processed == 4
    # ...and the command takes it over and finishes it.
    call_command("rotate_identity_keys")
    job.refresh_from_db()
    assert job.status == KeyRotationJob.Status.COMPLETED
    assert job.processed == job.total == 9
    assert kek_ids() == {new_id}


def test_a_stale_running_job_is_taken_over_by_the_task(under_old_key):
    job = rotation.rotation_start(requested_by="test")
    KeyRotationJob.objects.filter(pk=job.pk).update(
        status="running", heartbeat_at=timezone.now() - timedelta(minutes=10)
    )
    assert rotate_keys(str(job.pk)) == "completed"


def test_only_one_rotation_at_a_time(under_old_key):
    rotation.rotation_start(requested_by="test")
    with pytest.raises(ApplicationError) as refused:
        rotation.rotation_start(requested_by="test")
    assert refused.value.code == "rotation_in_progress"


def test_a_primary_that_changed_fails_the_job(settings, under_old_key):
    job = rotation.rotation_start(requested_by="test")
    settings.IDENTITIES_MASTER_KEY = ["x" * 40, NEW, OLD]
    job = rotation.rotation_run(job.pk)
    assert job.status == KeyRotationJob.Status.FAILED
    assert "start a new rotation" in job.last_error


def test_operators_start_and_follow_a_rotation_through_the_api(
    operator_api, celery_eager, under_old_key, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_api.post(
            "/api/v1/operator/identity_key_rotations", {"batch_size": 3}, format="json"
        )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    detail = operator_api.get(f"/api/v1/operator/identity_key_rotations/{job_id}").json()
    assert detail["status"] == "completed"
    assert detail["processed"] == detail["total"] == 9
    listed = operator_api.get("/api/v1/operator/identity_key_rotations").json()["results"]
    assert [j["id"] for j in listed] == [job_id]


def test_tenants_cannot_rotate(alice):
    response = alice.api.post("/api/v1/operator/identity_key_rotations", {}, format="json")
    assert response.status_code in (401, 403)
    assert KeyRotationJob.objects.count() == 0


def test_the_task_is_routed_to_the_default_queue(settings):
    assert (
        settings.CELERY_TASK_ROUTES[rotation.ROTATE_TASK]["queue"] == settings.CELERY_QUEUE_DEFAULT
    )
