"""The visual editor in headless Chromium against the real stack: draw, save, run; refusals;
the server's problems on the steps they name; what a viewer may not do."""
from __future__ import annotations

import re

import pytest

from pipelines.models import Pipeline, Run
from tests.browser.test_run_page import sign_in
from tests.builders import chain

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def drag_between(page, source, target) -> None:
    """Press on ``source``, move in small steps, release on ``target`` (a React Flow connection)."""
    a, b = source.bounding_box(), target.bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=12)
    page.mouse.up()


def handle(page, step: str, port: str):
    """``port``: ``out:<output>``, ``in:<input>``, ``after`` or ``needs``."""
    if port == "after":
        return page.locator(f'[data-testid="step-{step}"] .ports-out .port-any .react-flow__handle')
    if port == "needs":
        return page.locator(f'[data-testid="step-{step}"] .ports-in .port-any .react-flow__handle')
    kind, name = port.split(":")
    side = "output" if kind == "out" else "input"
    return page.locator(f'[data-testid="{side}-{step}-{name}"] .react-flow__handle')


def select_step(page, name: str) -> None:
    page.locator(f'[data-testid="step-{name}"] .editor-node-name').click()
    page.wait_for_selector(f'[data-testid="step-panel"][data-step="{name}"]')


def set_field(page, test_id: str, value: str) -> None:
    page.get_by_test_id(test_id).fill(value)


def open_editor(page, stack, user: str, path: str) -> None:
    sign_in(page, stack.base_url, user, f"pw-{user}", next_path=path)
    page.get_by_test_id("editor").wait_for()


def test_three_steps_dragged_connected_saved_and_run_all_succeed(stack, page, screenshot, make_team, make_user):
    team = make_team("vision")
    make_user("ada", team=team, role="editor")
    open_editor(page, stack, "ada", f"/pipelines/new?team={team.pk}")

    canvas = page.get_by_test_id("canvas")
    for template, at in (("data_prep", (140, 70)), ("train", (340, 250)), ("evaluate", (540, 70))):
        page.drag_and_drop(f'[data-testid="palette-{template}"]', '[data-testid="canvas"]',
                           target_position={"x": at[0], "y": at[1]})
    for name in ("prepare", "train", "evaluate"):
        page.get_by_test_id(f"step-{name}").wait_for()

    drag_between(page, handle(page, "prepare", "out:dataset"), handle(page, "train", "in:dataset"))
    drag_between(page, handle(page, "train", "out:model"), handle(page, "evaluate", "in:model"))
    page.wait_for_function("document.querySelectorAll('.react-flow__edge').length === 2", timeout=5000)

    for name in ("prepare", "train", "evaluate"):
        select_step(page, name)
        set_field(page, "field-command", "sh -c 'echo step $TRELLIS_JOB done'")
        set_field(page, "field-cpu", "0.1")
        set_field(page, "field-memory", "64")
        set_field(page, "field-gpu", "0")
    page.locator(".react-flow__pane").click(position={"x": 20, "y": 400})
    page.wait_for_selector('[data-testid="pipeline-problems"][data-valid="true"][data-checking="false"]')
    screenshot("editor-drawn")

    page.keyboard.press("Control+s")
    page.get_by_test_id("save-name").fill("quick")
    page.get_by_test_id("save-message").fill("three steps")
    page.get_by_test_id("save-confirm").click()
    page.wait_for_url(re.compile(r"/pipelines/\d+/edit$"))
    pipeline = Pipeline.objects.get(name="quick")
    spec = pipeline.versions.get(number=1).spec
    steps = {s["name"]: s for s in spec["steps"]}
    assert steps["train"]["inputs"] == {"dataset": "prepare.dataset"}
    assert steps["evaluate"]["inputs"] == {"model": "train.model"}
    assert steps["train"]["resources"]["cpu"] == 0.1
    assert steps["prepare"]["command"] == ["sh", "-c", "echo step $TRELLIS_JOB done"]
    page.wait_for_selector('[data-testid="version-1"]')
    for name in ("prepare", "train", "evaluate"):  # the saved pipeline stays on the canvas
        page.get_by_test_id(f"step-{name}").wait_for(timeout=5000)
    assert page.locator(".react-flow__edge").count() == 2
    assert page.get_by_test_id("editor").get_attribute("data-dirty") == "false"
    page.wait_for_selector('[data-testid="pipeline-problems"][data-valid="true"][data-checking="false"]')
    screenshot("editor-saved")

    page.get_by_test_id("editor-run").click()
    page.get_by_test_id("run-priority").fill("5")
    page.get_by_test_id("run-confirm").click()
    page.wait_for_url(re.compile(r"/runs/\d+"))
    run_id = int(re.search(r"/runs/(\d+)", page.url).group(1))
    page.wait_for_selector('[data-testid="run-status"][data-status="succeeded"]', timeout=120_000)
    for name in ("prepare", "train", "evaluate"):
        assert page.get_by_test_id(f"step-{name}").get_attribute("data-status") == "succeeded"
    run = Run.objects.get(pk=run_id)
    assert (run.status, run.priority, run.version.number) == ("succeeded", 5, 1)


def test_a_connection_closing_a_loop_is_refused_with_the_loop_named(stack, page, screenshot, make_team,
                                                                   make_user, make_pipeline):
    team = make_team("vision")
    make_user("ada", team=team, role="editor")
    pipeline = make_pipeline(chain("a", "b", "c"), team=team, name="looped")
    open_editor(page, stack, "ada", f"/pipelines/{pipeline.pk}/edit")
    page.get_by_test_id("step-c").wait_for()

    drag_between(page, handle(page, "c", "after"), handle(page, "a", "needs"))

    notice = page.get_by_test_id("editor-notice")
    notice.wait_for()
    assert notice.get_attribute("data-kind") == "error"
    assert "would close a loop: c -> a -> b -> c" in notice.inner_text()
    assert page.get_by_test_id("editor").get_attribute("data-dirty") == "false"
    assert page.locator(".react-flow__edge").count() == 2
    screenshot("editor-loop-refused")


def test_an_invalid_step_shows_the_servers_problem_on_that_step(stack, page, screenshot, make_team, make_user,
                                                               make_pipeline):
    team = make_team("vision")
    make_user("ada", team=team, role="editor")
    pipeline = make_pipeline(chain("a", "b"), team=team, name="sized")
    open_editor(page, stack, "ada", f"/pipelines/{pipeline.pk}/edit")

    select_step(page, "b")
    set_field(page, "field-cpu", "0")
    page.get_by_test_id("step-problems-b").wait_for()
    assert "cpu must be greater than 0" in page.get_by_test_id("step-problem-b").inner_text()
    assert "cpu must be greater than 0" in page.get_by_test_id("step-panel-problems").inner_text()
    assert page.get_by_test_id("step-problems-a").count() == 0

    name = page.get_by_test_id("field-name")
    name.fill("Bad_Name")
    name.press("Enter")
    page.get_by_test_id("step-problems-Bad_Name").wait_for()
    assert "must be lowercase" in page.get_by_test_id("step-panel-problems").inner_text()
    screenshot("editor-invalid-step")

    # The server refuses to save it, and says why.
    page.keyboard.press("Control+s")
    page.get_by_test_id("save-confirm").click()
    assert "must be lowercase" in page.get_by_test_id("save-error").inner_text()
    assert pipeline.versions.count() == 1


def test_a_viewer_sees_no_save_or_run_controls(stack, page, make_team, make_user, make_pipeline, screenshot):
    team = make_team("vision")
    make_user("vic", team=team, role="viewer")
    pipeline = make_pipeline(chain("a", "b"), team=team, name="watched")
    sign_in(page, stack.base_url, "vic", "pw-vic", next_path=f"/pipelines/{pipeline.pk}")
    page.get_by_test_id("pipeline-name").wait_for()
    assert page.get_by_test_id("edit-pipeline").count() == 0

    page.goto(f"{stack.base_url}/pipelines/{pipeline.pk}/edit")
    page.get_by_test_id("read-only-note").wait_for()
    page.get_by_test_id("step-b").wait_for()
    for control in ("save-pipeline", "editor-run", "palette", "undo", "delete-step"):
        assert page.get_by_test_id(control).count() == 0, control
    select_step(page, "b")
    assert page.get_by_test_id("delete-step").count() == 0
    assert page.get_by_test_id("field-image").get_attribute("readonly") is not None
    screenshot("editor-viewer")


def test_leaving_with_unsaved_changes_asks_first_and_undo_makes_it_clean(stack, page, make_team, make_user,
                                                                         make_pipeline):
    team = make_team("vision")
    make_user("ada", team=team, role="editor")
    pipeline = make_pipeline(chain("a", "b"), team=team, name="guarded")
    open_editor(page, stack, "ada", f"/pipelines/{pipeline.pk}/edit")
    page.get_by_test_id("step-b").wait_for()

    page.get_by_test_id("palette-python").focus()
    page.keyboard.press("Enter")
    page.get_by_test_id("step-script").wait_for()
    assert page.get_by_test_id("editor").get_attribute("data-dirty") == "true"

    page.get_by_role("link", name="Pipelines").first.click()
    page.get_by_test_id("leave-dialog").wait_for()
    page.get_by_test_id("leave-stay").click()
    assert page.url.endswith(f"/pipelines/{pipeline.pk}/edit")

    page.locator(".react-flow__pane").click(position={"x": 20, "y": 20})
    page.keyboard.press("Control+z")
    page.wait_for_selector('[data-testid="editor"][data-dirty="false"]')
    assert page.get_by_test_id("step-script").count() == 0
    page.get_by_role("link", name="Pipelines").first.click()
    page.wait_for_url(f"{stack.base_url}/")


def test_an_old_version_opens_read_only_and_restores_as_unsaved_changes(stack, page, make_team, make_user,
                                                                        make_pipeline):
    from pipelines import services
    from pipelines.spec import spec_to_dict

    team = make_team("vision")
    user = make_user("ada", team=team, role="editor")
    pipeline = make_pipeline(chain("a", "b"), team=team, name="versioned")
    services.save_version(pipeline, spec=spec_to_dict(chain("a", "b", "c")), user=user, message="add c")
    open_editor(page, stack, "ada", f"/pipelines/{pipeline.pk}/versions/1")
    page.get_by_test_id("step-b").wait_for()
    assert page.get_by_test_id("step-c").count() == 0
    assert page.get_by_test_id("palette").count() == 0
    assert page.get_by_test_id("save-pipeline").count() == 0
    assert "add c" in page.get_by_test_id("version-2").inner_text()
    assert "ada" in page.get_by_test_id("version-2").inner_text()

    page.get_by_test_id("restore-this-version").click()
    page.wait_for_selector('[data-testid="editor"][data-mode="edit"][data-dirty="true"]')
    page.get_by_test_id("step-b").wait_for()
    assert page.get_by_test_id("step-c").count() == 0
    page.keyboard.press("Control+s")
    page.get_by_test_id("save-message").fill("back to two steps")
    page.get_by_test_id("save-confirm").click()
    page.get_by_test_id("version-3").wait_for()
    latest = pipeline.versions.get(number=3)
    assert [s["name"] for s in latest.spec["steps"]] == ["a", "b"]
    assert latest.message == "back to two steps"


def test_saving_over_a_version_saved_meanwhile_names_it_and_asks_again(stack, page, make_team, make_user,
                                                                       make_pipeline):
    from pipelines import services
    from pipelines.spec import spec_to_dict

    team = make_team("vision")
    make_user("ada", team=team, role="editor")
    bob = make_user("bob", team=team, role="editor")
    pipeline = make_pipeline(chain("a", "b"), team=team, name="shared")
    open_editor(page, stack, "ada", f"/pipelines/{pipeline.pk}/edit")
    select_step(page, "b")
    set_field(page, "field-cpu", "2")
    page.wait_for_selector('[data-testid="editor"][data-dirty="true"]')
    page.locator(".react-flow__pane").click(position={"x": 20, "y": 400})  # the side panel lists versions
    services.save_version(pipeline, spec=spec_to_dict(chain("a", "b", "c")), user=bob, message="add c")

    page.keyboard.press("Control+s")
    page.get_by_test_id("save-message").fill("more cpu for b")
    page.get_by_test_id("save-confirm").click()
    warning = page.get_by_test_id("save-error")
    warning.wait_for()
    assert "bob saved version 2" in warning.inner_text()
    assert pipeline.versions.count() == 2  # nothing saved yet
    page.get_by_test_id("version-2").wait_for()  # the version list shows bob's version

    page.get_by_test_id("save-confirm").click()
    page.get_by_test_id("version-3").wait_for()
    latest = pipeline.versions.get(number=3)
    assert (latest.message, latest.created_by.username) == ("more cpu for b", "ada")
    assert {s["name"]: s["resources"]["cpu"] for s in latest.spec["steps"]}["b"] == 2


def test_the_keyboard_selects_moves_deletes_and_restores_a_step(stack, page, make_team, make_user, make_pipeline):
    team = make_team("vision")
    make_user("ada", team=team, role="editor")
    pipeline = make_pipeline(chain("a", "b"), team=team, name="keys")
    open_editor(page, stack, "ada", f"/pipelines/{pipeline.pk}/edit")
    node = page.locator('.react-flow__node[data-id="a"]')
    node.wait_for()

    node.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector('[data-testid="step-panel"][data-step="a"]')
    before = node.bounding_box()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('.react-flow__node[data-id=\"a\"]') !== null")
    assert node.bounding_box()["x"] > before["x"]
    page.wait_for_selector('[data-testid="editor"][data-dirty="true"]')  # a move by keyboard is an edit

    node.focus()
    page.keyboard.press("Delete")
    page.wait_for_selector('[data-testid="editor"][data-dirty="true"]')
    assert page.get_by_test_id("step-a").count() == 0
    page.keyboard.press("Control+z")
    page.get_by_test_id("step-a").wait_for()

    page.locator('.react-flow__node[data-id="b"]').focus()
    page.keyboard.press("Enter")
    page.wait_for_selector('[data-testid="step-panel"][data-step="b"]')
    page.locator('.react-flow__node[data-id="b"]').focus()
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    page.get_by_test_id("step-b-copy").wait_for()  # pasted and selected
    page.wait_for_selector('[data-testid="step-panel"][data-step="b-copy"]')


def test_a_mouse_drag_is_one_edit_that_one_undo_takes_back(stack, page, make_team, make_user, make_pipeline):
    team = make_team("vision")
    make_user("ada", team=team, role="editor")
    pipeline = make_pipeline(chain("a", "b"), team=team, name="dragged")
    open_editor(page, stack, "ada", f"/pipelines/{pipeline.pk}/edit")
    head = page.locator('[data-testid="step-b"] .editor-node-name')
    head.wait_for()
    start = head.bounding_box()

    page.mouse.move(start["x"] + 5, start["y"] + 5)
    page.mouse.down()
    page.mouse.move(start["x"] + 85, start["y"] + 65, steps=20)
    page.mouse.up()
    page.wait_for_selector('[data-testid="editor"][data-dirty="true"]')
    moved = head.bounding_box()
    assert moved["x"] > start["x"] + 40 and moved["y"] > start["y"] + 30

    page.get_by_test_id("undo").click()
    page.wait_for_selector('[data-testid="editor"][data-dirty="false"]')
    back = head.bounding_box()
    assert (round(back["x"]), round(back["y"])) == (round(start["x"]), round(start["y"]))
    assert page.get_by_test_id("undo").is_disabled()
