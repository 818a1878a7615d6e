"""The run page's actions and views in headless Chromium against the real stack: retry from
failure, the results summary, the timeline, "Finished" once the run is final, cancel asks first,
a viewer sees no run controls, a narrow window still shows every step."""
from __future__ import annotations

import json

import pytest
from django.utils import timezone

from pipelines import services
from pipelines.models import Run, StepRun
from tests.browser.test_run_page import sign_in
from tests.conftest import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def sh(name, script, *, inputs=None, outputs=(), depends_on=()):
    return {"name": name, "type": "custom", "image": "busybox", "command": ["sh", "-c", script],
            "resources": {"cpu": 0.1, "memory_mb": 64}, "inputs": inputs or {}, "outputs": list(outputs),
            "depends_on": list(depends_on)}


def start_run(team, user, steps, name="p") -> Run:
    pipeline = services.create_pipeline(team=team, name=name, spec={"steps": steps}, user=user)
    return services.submit_run(pipeline, user=user, now=timezone.now())


def open_run(page, stack, user: str, run: Run) -> None:
    sign_in(page, stack.base_url, user, f"pw-{user}", next_path=f"/runs/{run.pk}")
    page.get_by_test_id("run-status").wait_for()


def status_is(page, status: str, timeout=60_000) -> None:
    page.wait_for_selector(f'[data-testid="run-status"][data-status="{status}"]', timeout=timeout)


def test_a_failed_run_is_retried_from_the_page_and_shows_its_results(stack, page, screenshot, make_team, make_user,
                                                                      tmp_path):
    team = make_team("vision")
    user = make_user("ada", team=team, role="editor")
    counter, fixed = tmp_path / "count", tmp_path / "fixed"
    metrics = json.dumps({"accuracy": 0.9731, "arch": "<b>cnn</b>", "best": {"epoch": 7}})
    run = start_run(team, user, [
        sh("prepare", f'echo prepare >> {counter}; echo 1 > "$TRELLIS_OUTPUT_DATA"', outputs=["data"]),
        sh("train", f'[ -e {fixed} ] || {{ echo "no GPU today" >&2; exit 1; }}; echo m > "$TRELLIS_OUTPUT_MODEL"',
           inputs={"data": "prepare.data"}, outputs=["model"]),
        sh("evaluate", f"echo '{metrics}' > \"$TRELLIS_OUTPUT_METRICS\"", inputs={"model": "train.model"},
           outputs=["metrics"]),
    ])
    open_run(page, stack, "ada", run)
    status_is(page, "failed")
    # The run is over: the socket is closed and the page says so.
    page.wait_for_selector('[data-testid="connection-state"][data-state="closed"]', timeout=10_000)
    assert page.get_by_test_id("connection-state").inner_text().strip() == "Finished"
    assert page.get_by_test_id("timeline-train").get_attribute("data-status") == "failed"
    assert page.get_by_test_id("timeline-bar-prepare").is_visible()
    assert page.get_by_test_id("run-results").count() == 0  # evaluate never ran
    screenshot("run-page-failed")

    fixed.touch()
    page.get_by_test_id("retry-run").focus()
    page.keyboard.press("Enter")  # the main actions work from the keyboard
    status_is(page, "succeeded")
    page.wait_for_selector('[data-testid="result-evaluate-accuracy"]', timeout=10_000)
    assert page.get_by_test_id("result-evaluate-accuracy").locator("dd").inner_text() == "0.9731"
    assert page.get_by_test_id("result-evaluate-arch").locator("dd").inner_text() == "<b>cnn</b>"  # text, not HTML
    assert page.get_by_test_id("result-evaluate-best.epoch").locator("dd").inner_text() == "7"
    assert page.get_by_test_id("step-train").get_attribute("data-status") == "succeeded"
    assert page.get_by_test_id("timeline-attempt-train").inner_text() == "#2"
    page.wait_for_selector('[data-testid="connection-state"][data-state="closed"]', timeout=10_000)
    assert page.get_by_test_id("retry-run").count() == 0
    screenshot("run-page-retried")

    assert counter.read_text().split() == ["prepare"]  # the succeeded step kept its output
    assert StepRun.objects.get(run=run, step_name="train").attempt == 2


def test_cancel_asks_first_and_keeping_the_run_leaves_it_running(stack, page, make_team, make_user):
    team = make_team("vision")
    make_user("ada", team=team, role="editor")
    run = start_run(team, None, [sh("sleepy", "sleep 60")])
    wait_until(lambda: StepRun.objects.filter(run=run, status="running").exists(), what="the step to run")
    open_run(page, stack, "ada", run)
    page.wait_for_selector('[data-testid="connection-state"][data-state="open"]')

    page.get_by_test_id("cancel-run").click()
    page.get_by_test_id("cancel-confirm").wait_for()
    assert page.evaluate("document.activeElement.dataset.testid") == "cancel-keep"  # the safe choice
    page.keyboard.press("Escape")
    assert page.get_by_test_id("cancel-confirm").count() == 0
    assert Run.objects.get(pk=run.pk).status == "running"

    page.get_by_test_id("cancel-run").click()
    page.get_by_test_id("cancel-confirm-yes").click()
    status_is(page, "cancelled", timeout=20_000)
    assert Run.objects.get(pk=run.pk).status == "cancelled"
    page.get_by_test_id("retry-run").wait_for()  # a cancelled run can be retried


def test_a_viewer_sees_no_cancel_or_retry(stack, page, make_team, make_user):
    team = make_team("vision")
    make_user("vic", team=team, role="viewer")
    run = start_run(team, None, [sh("broken", "exit 2")])
    wait_until(lambda: Run.objects.get(pk=run.pk).status == "failed", what="the run to fail")
    open_run(page, stack, "vic", run)
    status_is(page, "failed")
    page.get_by_test_id("timeline").wait_for()
    assert page.get_by_test_id("retry-run").count() == 0
    assert page.get_by_test_id("cancel-run").count() == 0


def test_a_narrow_window_refits_the_graph_so_every_step_stays_in_view(stack, page, make_team, make_user):
    team = make_team("vision")
    make_user("ada", team=team, role="editor")
    steps = [sh(f"s{i}", "true", depends_on=[f"s{i - 1}"] if i else []) for i in range(6)]
    run = start_run(team, None, steps)
    open_run(page, stack, "ada", run)
    status_is(page, "succeeded")
    page.set_viewport_size({"width": 800, "height": 900})
    page.wait_for_timeout(400)  # a frame for the resize observer, then the fit

    box = page.get_by_test_id("dag").bounding_box()
    for i in range(6):
        node = page.get_by_test_id(f"step-s{i}").bounding_box()
        assert box["x"] - 1 <= node["x"] and node["x"] + node["width"] <= box["x"] + box["width"] + 1, f"s{i}"


def test_a_step_that_retried_shows_the_log_of_each_attempt(stack, page, screenshot, make_team, make_user):
    team = make_team("vision")
    make_user("ada", team=team, role="viewer")
    flaky = sh("train", 'echo "attempt $TRELLIS_ATTEMPT: <b>starting</b>"; '
                        '[ "$TRELLIS_ATTEMPT" -ge 2 ] || { echo "out of memory" >&2; exit 1; }; echo done')
    flaky["retries"] = 1
    run = start_run(team, None, [flaky])
    open_run(page, stack, "ada", run)
    status_is(page, "succeeded")
    page.get_by_test_id("step-train").click()

    log = page.get_by_test_id("log-text")
    page.wait_for_selector('[data-testid="log-panel"][data-attempt="2"][data-state="complete"]', timeout=10_000)
    assert log.inner_text().split("\n")[:2] == ["attempt 2: <b>starting</b>", "done"]  # text, not HTML
    picker = page.get_by_test_id("log-attempt")
    assert picker.locator("option").all_inner_texts() == ["attempt 2 (latest)", "attempt 1"]

    picker.focus()
    picker.select_option("1")  # a <select>: the keyboard picks it too
    page.wait_for_selector('[data-testid="log-panel"][data-attempt="1"][data-state="complete"]', timeout=10_000)
    assert "attempt 1: <b>starting</b>" in log.inner_text()
    assert "out of memory" in log.inner_text()
    assert "done" not in log.inner_text()
    screenshot("run-page-attempt-log")
