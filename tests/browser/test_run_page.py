"""A new user's first minutes: sign in, open the digits pipeline, run it, watch it succeed."""
from __future__ import annotations

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
