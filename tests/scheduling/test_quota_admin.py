"""Quotas as a platform admin changes them: the Django admin's forms (with the GPU class quotas
inline), and what every change of a quota, cohort or the cluster sets off after commit: a
dispatch task on the real broker, and a fresh page for each team it touches (through the real
channel layer). The tests that watch what leaves after commit run outside a test transaction."""
from __future__ import annotations

import asyncio
import json

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from django.db import transaction
from django.test import Client

from pipelines.outbox import DISPATCH_TASK, team_group
from scheduling.models import Cluster, Cohort, GpuClass, GpuClassQuota, Quota

pytestmark = pytest.mark.django_db
committed = pytest.mark.django_db(transaction=True)

NO_CLASSES = {"gpu_classes-TOTAL_FORMS": "0", "gpu_classes-INITIAL_FORMS": "0", "gpu_classes-MIN_NUM_FORMS": "0",
              "gpu_classes-MAX_NUM_FORMS": "1000"}


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_client(make_user):
    root = make_user("root")
    root.is_staff = root.is_superuser = True
    root.save()
    client = Client()
    client.force_login(root)
    return client


@pytest.fixture
def vision(make_team):
    return make_team("vision", cpu=8, memory_mb=65536, gpu=0)


def quota_form(quota, **changes) -> dict:
    """The Quota change form as the admin page posts it, with ``changes``."""
    fields = {"team": quota.team_id, "cohort": quota.cohort_id or "", "weight": quota.weight or "",
              "cpu": quota.cpu, "memory_mb": quota.memory_mb, "gpu": quota.gpu, "borrow_cpu": "",
              "borrow_memory_mb": "", "borrow_gpu": "", **NO_CLASSES, "_save": "Save"}
    return {**fields, **changes}


def with_class(gpu_class, quota, *, gpu, borrow_gpu="") -> dict:
    return {"gpu_classes-TOTAL_FORMS": "1", "gpu_classes-0-id": "", "gpu_classes-0-quota": quota.pk,
            "gpu_classes-0-gpu_class": gpu_class.pk, "gpu_classes-0-gpu": gpu, "gpu_classes-0-borrow_gpu": borrow_gpu}


def change_url(quota) -> str:
    return f"/admin/scheduling/quota/{quota.pk}/change/"


class Listener:
    """A channel of the real channel layer, in the ``team.<id>`` groups of the given teams."""

    def __init__(self, *team_ids: int) -> None:
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        for team_id in team_ids:
            async_to_sync(self.layer.group_add)(team_group(team_id), self.channel)

    def teams_told(self, expected: set[int], timeout_s: float = 10) -> set[int]:
        """The teams told of a change, until ``expected`` have been (or the time is up)."""
        async def gather() -> set[int]:
            told: set[int] = set()
            try:
                while not expected <= told:
                    message = await asyncio.wait_for(self.layer.receive(self.channel), timeout_s)
                    assert message["type"] == "team.changed"
                    told.add(message["team"])
            except asyncio.TimeoutError:
                pass
            return told

        return async_to_sync(gather)()


def dispatches_sent() -> int:
    """Dispatch tasks waiting on the real broker (no worker runs in these tests)."""
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    return sum(1 for raw in broker.lrange("celery", 0, -1) if json.loads(raw)["headers"]["task"] == DISPATCH_TASK)


# -- the Django admin --------------------------------------------------------------------------


def test_the_quota_change_page_opens_with_its_gpu_class_quotas_inline(admin_client, vision):
    GpuClass.objects.create(name="a100")

    response = admin_client.get(change_url(vision.quota))

    assert response.status_code == 200
    assert [f.formset.prefix for f in response.context["inline_admin_formsets"]] == ["gpu_classes"]


@pytest.mark.parametrize("field", ["cpu", "memory_mb", "gpu", "borrow_cpu", "borrow_memory_mb", "borrow_gpu"])
def test_the_admin_refuses_a_negative_quota_with_a_message(admin_client, vision, field):
    response = admin_client.post(change_url(vision.quota), quota_form(vision.quota, **{field: "-1"}))

    assert response.status_code == 200  # the form again, with its errors
    assert response.context["adminform"].form.errors[field] == ["Ensure this value is greater than or equal to 0."]
    assert Quota.objects.get(team=vision).cpu == 8


def test_the_admin_refuses_a_negative_gpu_class_quota_inline(admin_client, vision):
    a100 = GpuClass.objects.create(name="a100")

    response = admin_client.post(change_url(vision.quota),
                                 quota_form(vision.quota, **with_class(a100, vision.quota, gpu="-2")))

    assert response.status_code == 200
    [inline] = response.context["inline_admin_formsets"]
    assert inline.formset.errors == [{"gpu": ["Ensure this value is greater than or equal to 0."]}]
    assert not GpuClassQuota.objects.exists()


@committed
def test_a_quota_saved_in_the_admin_reads_back_asks_for_one_dispatch_and_tells_the_team(admin_client, vision):
    a100 = GpuClass.objects.create(name="a100")
    lab = Cohort.objects.create(name="lab")
    listener = Listener(vision.pk)
    form = quota_form(vision.quota, cpu="12.5", memory_mb="4096", gpu="4", cohort=lab.pk, borrow_gpu="2",
                      **with_class(a100, vision.quota, gpu="2", borrow_gpu="1"))
    before = dispatches_sent()

    response = admin_client.post(change_url(vision.quota), form)

    assert response.status_code == 302
    quota = Quota.objects.get(team=vision)
    assert (float(quota.cpu), quota.memory_mb, quota.gpu, quota.cohort, quota.borrow_gpu) == (12.5, 4096, 4, lab, 2)
    assert [(c.gpu_class.name, c.gpu, c.borrow_gpu) for c in quota.gpu_classes.all()] == [("a100", 2, 1)]
    assert dispatches_sent() == before + 1  # once for the transaction, however many rows it changed
    assert listener.teams_told({vision.pk}) == {vision.pk}


def test_the_admin_warns_when_nominal_quotas_exceed_the_clusters_capacity(admin_client, vision):
    from scheduling.executors import get_executor

    cpus = get_executor().capacity().cpu

    response = admin_client.post(change_url(vision.quota), quota_form(vision.quota, cpu=str(cpus + 1), memory_mb="16"),
                                 follow=True)

    warnings = [m.message for m in response.context["messages"] if m.level_tag == "warning"]
    assert warnings == [f"Nominal cpu quotas of all teams add up to {cpus + 1:g}, more than the cluster's {cpus:g}."]


@committed
def test_the_team_page_in_the_admin_edits_its_quota_inline(admin_client, vision):
    form = {"name": "vision", "display_name": "Vision", "quota-TOTAL_FORMS": "1", "quota-INITIAL_FORMS": "1",
            "quota-MIN_NUM_FORMS": "0", "quota-MAX_NUM_FORMS": "1", "quota-0-id": vision.quota.pk,
            "quota-0-team": vision.pk, "quota-0-cpu": "3", "quota-0-memory_mb": "2048", "quota-0-gpu": "0",
            "quota-0-cohort": "", "quota-0-borrow_cpu": "", "quota-0-borrow_memory_mb": "", "quota-0-borrow_gpu": "",
            "quota-0-weight": "", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000", "_save": "Save"}
    before = dispatches_sent()

    negative = admin_client.post(f"/admin/scheduling/team/{vision.pk}/change/", {**form, "quota-0-cpu": "-3"})
    refused = dispatches_sent()
    saved = admin_client.post(f"/admin/scheduling/team/{vision.pk}/change/", form)

    assert negative.status_code == 200
    assert "Ensure this value is greater than or equal to 0." in negative.content.decode()
    assert refused == before
    assert saved.status_code == 302
    quota = Quota.objects.get(team=vision)
    assert (quota.cpu, quota.memory_mb) == (3, 2048)
    assert dispatches_sent() == before + 1


# -- what a change sets off, wherever it comes from ------------------------------------------


@committed
def test_a_quota_moving_between_cohorts_tells_both_cohorts_teams(make_team, vision):
    old, new = Cohort.objects.create(name="old"), Cohort.objects.create(name="new")
    was_with, now_with, elsewhere = make_team("audio"), make_team("nlp"), make_team("speech")
    Quota.objects.filter(team__in=[vision, was_with]).update(cohort=old)
    Quota.objects.filter(team=now_with).update(cohort=new)
    listener = Listener(vision.pk, was_with.pk, now_with.pk, elsewhere.pk)
    quota = Quota.objects.get(team=vision)

    quota.cohort = new
    quota.save()

    assert listener.teams_told({vision.pk, was_with.pk, now_with.pk, elsewhere.pk}, timeout_s=3) == {
        vision.pk, was_with.pk, now_with.pk}


@committed
def test_the_dispatch_and_the_team_page_wait_for_the_commit(vision):
    listener = Listener(vision.pk)
    before = dispatches_sent()

    with transaction.atomic():
        Quota.objects.get(team=vision).save()
        inside = dispatches_sent()

    assert inside == before
    assert dispatches_sent() == before + 1
    assert listener.teams_told({vision.pk}) == {vision.pk}


@committed
def test_a_deleted_cohort_tells_the_teams_it_had(make_team, vision):
    lab = Cohort.objects.create(name="lab")
    audio = make_team("audio")
    Quota.objects.filter(team__in=[vision, audio]).update(cohort=lab)
    listener = Listener(vision.pk, audio.pk)
    before = dispatches_sent()

    lab.delete()

    assert dispatches_sent() > before
    assert listener.teams_told({vision.pk, audio.pk}) == {vision.pk, audio.pk}
    assert Quota.objects.get(team=vision).cohort is None


@committed
def test_a_change_of_the_clusters_policy_tells_every_team(make_team, vision):
    from scheduling import clusters

    audio = make_team("audio")
    cluster = clusters.current()
    listener = Listener(vision.pk, audio.pk)
    before = dispatches_sent()

    cluster.policy = "fair_share"
    cluster.save()

    assert dispatches_sent() == before + 1
    assert listener.teams_told({vision.pk, audio.pk}) == {vision.pk, audio.pk}
    assert Cluster.objects.get().policy == "fair_share"


@committed
def test_a_quota_changed_through_the_api_asks_for_one_dispatch_and_tells_the_team(api, vision, make_user):
    root = make_user("root")
    root.is_staff = True
    root.save()
    listener = Listener(vision.pk)
    before = dispatches_sent()

    response = api.as_user(root).patch(f"/api/teams/{vision.pk}/quota/", {"cpu": 3}, format="json")

    assert response.status_code == 200
    assert dispatches_sent() == before + 1
    assert listener.teams_told({vision.pk}) == {vision.pk}
