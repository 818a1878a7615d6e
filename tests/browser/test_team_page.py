"""The team page in headless Chromium against the real server, worker and watcher: the queue in
admission order with reasons, usage bars, the quota form for platform admins, none for viewers."""
from __future__ import annotations

import pytest
from django.utils import timezone

from pipelines import services
from pipelines.models import Run
from scheduling.models import Quota
from tests.browser.test_run_page import sign_in
from tests.conftest import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

NAP = {"steps": [{"name": "nap", "type": "custom", "command": ["sh", "-c", "sleep 120"],
                  "resources": {"cpu": 1, "memory_mb": 64}}]}


@pytest.fixture
def busy_team(make_team, make_user):
    """Team vision may hold one cpu; two runs each ask for one: one runs, one waits."""
    team = make_team("vision", cpu=1, memory_mb=1024)
    editor = make_user("ed", team=team, role="editor")
    pipeline = services.create_pipeline(team=team, name="nap", spec=NAP, user=editor)
    runs = [services.submit_run(pipeline, user=editor, now=timezone.now()) for _ in range(2)]
    yield team, runs
    for run in Run.objects.filter(team=team):
        services.cancel_run(run.pk, now=timezone.now())


def open_team_page(page, stack, username, team):
    """Through the navigation: Teams, then the team."""
    sign_in(page, stack.base_url, username, f"pw-{username}")
    page.get_by_test_id("nav-teams").click()
    page.get_by_test_id("team-list").locator(f'a[href="/teams/{team.pk}"]').click()
    page.wait_for_selector('[data-testid="connection-state"][data-state="open"]')


def wait_for_queue(page):
    page.wait_for_selector('[data-testid="active-row"][data-status="running"]', timeout=60_000)
    page.wait_for_selector('[data-testid="queue-row"]', timeout=30_000)


def test_a_platform_admin_sees_the_queue_and_changes_the_quota(stack, page, screenshot, busy_team, make_user):
    team, runs = busy_team
    root = make_user("root", team=team, role="viewer")
    root.is_staff = True
    root.save()

    open_team_page(page, stack, "root", team)
    wait_for_queue(page)

    assert page.get_by_test_id("queue-reason").all_inner_texts() == ["team vision: cpu 1 of 1 in use, asks 1"]
    cpu = page.get_by_test_id("usage-cpu")
    assert (cpu.get_attribute("data-used"), cpu.get_attribute("data-nominal")) == ("1", "1")
    assert page.get_by_test_id("usage-memory_mb").is_visible()
    screenshot("team-page")

    form = page.get_by_test_id("quota-form")
    page.get_by_test_id("quota-cpu").fill("-1")
    page.get_by_test_id("quota-save").click()
    assert page.get_by_test_id("quota-error-cpu").inner_text() == "Ensure this value is greater than or equal to 0."
    assert Quota.objects.get(team=team).cpu == 1

    page.get_by_test_id("quota-cpu").fill("100000")
    page.get_by_test_id("quota-save").click()
    page.get_by_test_id("quota-warnings").wait_for()
    assert "Nominal cpu quotas of all teams add up to 100000" in page.get_by_test_id("quota-warnings").inner_text()

    page.get_by_test_id("quota-cpu").fill("2")
    page.get_by_test_id("quota-cpu").press("Enter")  # the keyboard submits the form
    page.get_by_test_id("quota-saved").wait_for()
    page.wait_for_selector('[data-testid="usage-cpu"][data-nominal="2"]', timeout=30_000)
    assert Quota.objects.get(team=team).cpu == 2
    assert form.is_visible()
    # with room for both, the waiting step is next in line (or already admitted, when the dispatch
    # that a quota change triggers came first)
    page.wait_for_selector('[data-testid="queue-row"][data-verdict="admit"], [data-testid="queue-empty"]',
                           timeout=30_000)
    screenshot("team-page-quota-changed")


def test_a_viewer_sees_the_queue_but_no_quota_controls(stack, page, busy_team, make_user):
    team, _ = busy_team
    make_user("vic", team=team, role="viewer")

    open_team_page(page, stack, "vic", team)
    wait_for_queue(page)

    assert page.get_by_test_id("queue-reason").all_inner_texts() == ["team vision: cpu 1 of 1 in use, asks 1"]
    assert page.get_by_test_id("usage-bars").is_visible()
    assert page.get_by_test_id("quota-section").count() == 0
    assert page.get_by_test_id("quota-form").count() == 0
    assert page.get_by_role("button", name="Save quota").count() == 0


def test_a_team_admin_sees_the_quota_read_only_and_names_as_text(stack, page, busy_team, make_user):
    team, _ = busy_team
    make_user("boss", team=team, role="admin")
    team.display_name = "<b>Vision</b> & <script>co</script>"
    team.save()

    open_team_page(page, stack, "boss", team)

    page.get_by_test_id("quota-readonly").wait_for()
    assert page.get_by_test_id("quota-form").count() == 0
    assert "cpu" in page.get_by_test_id("quota-readonly").inner_text()
    heading = page.get_by_test_id("team-name")
    assert heading.inner_text() == "<b>Vision</b> & <script>co</script>"
    assert heading.locator("b, script").count() == 0


def test_a_platform_admin_who_is_no_member_opens_the_team_page_from_the_list(stack, page, busy_team, make_user):
    team, _ = busy_team
    root = make_user("root")
    root.is_staff = True
    root.save()

    open_team_page(page, stack, "root", team)
    wait_for_queue(page)

    assert page.get_by_test_id("queue-reason").all_inner_texts() == ["team vision: cpu 1 of 1 in use, asks 1"]
    assert "platform admin, not a member" in page.locator(".team-page").inner_text()
    page.get_by_test_id("quota-form").wait_for()
