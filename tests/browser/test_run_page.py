"""A new user's first minutes: sign in, open the digits pipeline, run it, watch it succeed."""
from __future__ import annotations

import json
import re

import pytest
from django.core.management import call_command

from pipelines.models import Run

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def sign_in(page, base_url: str, username: str, password: str, next_path: str = "/") -> None:
    page.goto(f"{base_url}/login?next={next_path}")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()


def test_digits_run_goes_live_to_succeeded_in_the_browser(stack, page, screenshot, django_user_model):
    call_command("bootstrap", verbosity=0)
    user = django_user_model.objects.get(username="demo")
    user.set_password("browser-test-password")
    user.save()

    sign_in(page, stack.base_url, "demo", "browser-test-password")
    page.get_by_role("link", name="digits").first.click()
    page.get_by_test_id("run-pipeline").click()
    page.wait_for_url(re.compile(r"/runs/\d+"))
    run_id = int(re.search(r"/runs/(\d+)", page.url).group(1))

    page.get_by_test_id("step-train-cnn").wait_for()
    page.wait_for_selector('[data-testid="step-train-cnn"][data-status="running"]', timeout=60_000)
    screenshot("run-page-running")
    page.wait_for_selector('[data-testid="run-status"][data-status="succeeded"]', timeout=180_000)
    for step in ("prepare", "train-mlp", "train-cnn", "evaluate-mlp", "evaluate-cnn", "select-best"):
        assert page.get_by_test_id(f"step-{step}").get_attribute("data-status") == "succeeded"
    assert Run.objects.get(pk=run_id).status == "succeeded"

    page.get_by_test_id("step-train-cnn").click()
    page.wait_for_selector('[data-testid="log-text"]:has-text("trained cnn")', timeout=20_000)
    screenshot("run-page-succeeded")


def test_wrong_password_is_refused_with_a_message(stack, page, make_user):
    make_user("ada")
    sign_in(page, stack.base_url, "ada", "not-the-password")
    assert page.get_by_test_id("login-error").inner_text().strip()
    assert "/login" in page.url


def test_after_a_network_drop_the_page_resumes_with_nothing_missing_or_doubled(stack, page, make_team, make_user,
                                                                               tmp_path):
    """The run's socket goes through a route the test can cut: while it is cut the run moves on
    (a step ends, the next runs and ends); when it is back the page catches up from its last event."""
    from django.utils import timezone

    from pipelines import services
    from tests.conftest import wait_until

    team = make_team("vision")
    user = make_user("ada", team=team, role="viewer")
    gate = tmp_path / "gate"

    def sh(name, script, depends_on=()):
        return {"name": name, "type": "custom", "image": "busybox", "command": ["sh", "-c", script],
                "resources": {"cpu": 0.1, "memory_mb": 64}, "depends_on": list(depends_on)}

    pipeline = services.create_pipeline(team=team, name="p", user=user, spec={"steps": [
        sh("wait", f"while [ ! -e {gate} ]; do sleep 0.05; done"),
        sh("after", "echo after", depends_on=["wait"]),
        sh("last", "echo last", depends_on=["after"]),
    ]})
    run = services.submit_run(pipeline, user=user, now=timezone.now())

    network = {"is_down": False, "sockets": [], "events": [], "urls": []}

    def route(ws):
        network["urls"].append(ws.url)
        if network["is_down"]:
            ws.close()
            return
        server = ws.connect_to_server()

        def to_page(message):
            data = json.loads(message)
            if data.get("type") != "snapshot":
                network["events"].append(data["seq"])
            ws.send(message)

        server.on_message(to_page)
        network["sockets"].append(ws)

    page.route_web_socket(re.compile(r"/ws/runs/"), route)
    sign_in(page, stack.base_url, "ada", "pw-ada", next_path=f"/runs/{run.pk}")
    page.wait_for_selector('[data-testid="step-wait"][data-status="running"]', timeout=60_000)
    page.wait_for_selector('[data-testid="connection-state"][data-state="open"]')

    network["is_down"] = True
    network["sockets"][-1].close()
    page.wait_for_selector('[data-testid="connection-state"][data-state="reconnecting"]')
    gate.touch()
    wait_until(lambda: Run.objects.get(pk=run.pk).status == "succeeded", what="the run to succeed offline")
    assert page.get_by_test_id("step-wait").get_attribute("data-status") == "running"  # it missed the end

    network["is_down"] = False
    page.wait_for_selector('[data-testid="run-status"][data-status="succeeded"]', timeout=60_000)
    for name in ("wait", "after", "last"):
        assert page.get_by_test_id(f"step-{name}").get_attribute("data-status") == "succeeded"
        assert page.get_by_test_id(f"timeline-attempt-{name}").count() == 0  # one attempt each, shown once
    assert page.locator('[data-testid^="timeline-bar-"]').count() == 3  # one bar per step
    last_seq = Run.objects.get(pk=run.pk).last_seq
    resumed = [u for u in network["urls"] if "after=" in u]
    assert resumed, "the page reconnected with ?after=<its last event>"
    assert len(network["events"]) == len(set(network["events"]))  # nothing delivered twice
    assert network["events"] == sorted(network["events"]) and network["events"][-1] == last_seq


def test_a_step_that_failed_once_lists_both_attempts_live_with_the_first_ones_reason(stack, page, screenshot,
                                                                                     make_team, make_user, tmp_path):
    """Attempt 1 fails, attempt 2 waits for a gate and then succeeds. The side panel lists both,
    newest first, with why attempt 1 failed, and follows attempt 2 to its end through the live
    updates; picking attempt 1 (by keyboard) shows its log, and the log's own picker agrees."""
    from django.utils import timezone

    from pipelines import services

    team = make_team("vision")
    user = make_user("ada", team=team, role="viewer")
    gate = tmp_path / "gate"
    script = (f'echo "attempt $TRELLIS_ATTEMPT"; '
              f'[ "$TRELLIS_ATTEMPT" -ge 2 ] || {{ echo "disk full" >&2; exit 3; }}; '
              f'while [ ! -e {gate} ]; do sleep 0.05; done; echo trained')
    pipeline = services.create_pipeline(team=team, name="flaky", user=user, spec={"steps": [
        {"name": "train", "type": "custom", "image": "busybox", "command": ["sh", "-c", script],
         "resources": {"cpu": 0.1, "memory_mb": 64}, "retries": 1},
    ]})
    run = services.submit_run(pipeline, user=user, now=timezone.now())

    sign_in(page, stack.base_url, "ada", "pw-ada", next_path=f"/runs/{run.pk}?step=train")
    page.wait_for_selector('[data-testid="attempt-2"][data-status="running"]', timeout=60_000)
    attempts = page.get_by_test_id("step-attempts")
    items = attempts.locator("button")
    assert [items.nth(i).get_attribute("data-testid") for i in range(items.count())] == ["attempt-2", "attempt-1"]
    assert page.get_by_test_id("attempt-1").get_attribute("data-status") == "failed"
    assert page.get_by_test_id("attempt-1-reason").inner_text() == "exited with code 3"
    assert "exit code 3" in page.get_by_test_id("attempt-1").inner_text()
    assert page.get_by_test_id("attempt-2").get_attribute("aria-pressed") == "true"  # the latest log is shown

    gate.touch()
    page.wait_for_selector('[data-testid="run-status"][data-status="succeeded"]', timeout=60_000)
    page.wait_for_selector('[data-testid="attempt-2"][data-status="succeeded"]', timeout=10_000)  # no reload

    page.get_by_test_id("attempt-1").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector('[data-testid="log-panel"][data-attempt="1"][data-state="complete"]', timeout=10_000)
    assert "disk full" in page.get_by_test_id("log-text").inner_text()
    assert page.get_by_test_id("attempt-1").get_attribute("aria-pressed") == "true"
    assert page.get_by_test_id("log-attempt").input_value() == "1"  # the log's own picker agrees
    screenshot("run-page-attempts")

    page.set_viewport_size({"width": 400, "height": 900})
    fits = attempts.evaluate("el => el.scrollWidth <= el.clientWidth")
    assert fits, "the attempts list fits a narrow window without scrolling sideways"
