"""python manage.py run_pipeline NAME [--wait]: submit a run from the terminal and follow it.

With ``--wait`` it prints every state change as it happens, then the run's metrics (every
output named ``metrics`` of the final steps), and exits 1 if the run did not succeed. When no
Celery worker answers, it dispatches and watches in this process, so it also works on its own.
"""
from __future__ import annotations

import atexit
import json
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from mlops_web.celery import app
from pipelines import services, states
from pipelines.models import Pipeline, Run, StepRunEvent
from pipelines.spec import spec_from_dict
from scheduling import redis_server
from scheduling.dispatch import dispatch_once
from scheduling.executors import get_executor
from scheduling.jobspec import artifact_path
from scheduling.watcher import follow


class Command(BaseCommand):
    help = "Submit a run of a pipeline; with --wait, stream its state changes and print its metrics."

    def add_arguments(self, parser):
        parser.add_argument("pipeline", help="pipeline name (or team/name)")
        parser.add_argument("--wait", action="store_true", help="follow the run until it ends")
        parser.add_argument("--user", default="demo", help="who submits (must be an editor of the team)")
        parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
        parser.add_argument("--priority", type=int, default=0)
        parser.add_argument("--inline", action="store_true",
                            help="dispatch and watch in this process (default when no worker answers)")

    def handle(self, *args, pipeline: str, wait: bool, user: str, param: list[str], priority: int,
               inline: bool, **options):
        target = self._pipeline(pipeline)
        submitter = get_user_model().objects.filter(username=user).first()
        if submitter is None:
            raise CommandError(f"no user {user!r}; run `python manage.py bootstrap` or pass --user")
        parameters = dict(p.split("=", 1) for p in param if "=" in p)
        has_worker = self._worker_answers()  # before submitting: submitting publishes through Redis
        try:
            run = services.submit_run(target, user=submitter, now=timezone.now(), parameters=parameters,
                                      priority=priority)
        except services.SpecInvalid as exc:
            raise CommandError(f"cannot run {target}: {exc}") from exc
        self.stdout.write(f"run {run.pk} of {target} v{run.version.number} submitted")
        if not wait:
            return
        if inline or not has_worker:
            if not inline:
                self.stdout.write("no Celery worker answered: dispatching and watching in this process")
            self._follow_inline(run.pk)
        else:
            self._stream(run.pk)
        run.refresh_from_db()
        self._print_metrics(run)
        if run.status != states.RUN_SUCCEEDED:
            raise CommandError(f"run {run.pk} {run.status}: {run.reason}")
        self.stdout.write(self.style.SUCCESS(f"run {run.pk} succeeded"))

    def _worker_answers(self) -> bool:
        """Is a Celery worker listening? Starts the embedded Redis for this command if none runs."""
        url = urlparse(settings.REDIS_URL)
        host, port = url.hostname or "127.0.0.1", url.port or 6379
        if not redis_server.is_listening(host, port):
            if not settings.IS_EMBEDDED_REDIS:
                raise CommandError(f"Redis at {settings.REDIS_URL} does not answer")
            proc = redis_server.start(host=host, port=port, data_dir=settings.VAR_DIR / "redis")
            atexit.register(proc.terminate)
            return False
        return bool(app.control.ping(timeout=1.0))

    def _pipeline(self, name: str) -> Pipeline:
        team, _, pipeline = name.rpartition("/")
        found = Pipeline.objects.filter(name=pipeline, **({"team__name": team} if team else {}))
        if found.count() != 1:
            raise CommandError(f"{'no' if not found else 'more than one'} pipeline named {name!r}"
                               + ("" if not found else "; use team/name"))
        return found.get()

    def _stream(self, run_id: int, tick=None) -> None:
        seq = 0
        while True:
            for e in StepRunEvent.objects.filter(run_id=run_id, seq__gt=seq).order_by("seq"):
                seq = e.seq
                detail = f" ({e.reason})" if e.reason else ""
                attempt = f" attempt {e.attempt}" if e.attempt > 1 else ""
                self.stdout.write(f"{e.at:%H:%M:%S} {e.step_name:<16} {e.to_status}{attempt}{detail}")
            if Run.objects.filter(pk=run_id, status__in=states.RUN_FINAL).exists():
                return
            if tick:
                tick()
            time.sleep(0.2)

    def _follow_inline(self, run_id: int) -> None:
        executor, stop = get_executor(), threading.Event()
        watcher = threading.Thread(target=follow, args=(executor,),
                                   kwargs={"name": f"watcher:{type(executor).__name__}", "should_stop": stop.is_set},
                                   daemon=True)
        watcher.start()
        try:
            self._stream(run_id, tick=lambda: dispatch_once(executor=executor, policy=settings.TRELLIS_POLICY,
                                                            now=timezone.now()))
        finally:
            stop.set()
            watcher.join(5)

    def _print_metrics(self, run: Run) -> None:
        spec = spec_from_dict(run.spec)
        has_dependents = {u for s in spec.steps for u in s.upstream}
        for step in spec.steps:
            if step.name in has_dependents or "metrics" not in step.outputs:
                continue
            path = Path(artifact_path(run.workdir, step.name, "metrics"))
            if path.exists():
                self.stdout.write(f"metrics of {step.name} ({path}):")
                for key, value in _scalars(json.loads(path.read_text())):
                    self.stdout.write(f"  {key} = {value}")


def _scalars(data, prefix: str = "", depth: int = 2):
    """Flatten the scalar values of nested metrics (lists and deeper levels are left to the file)."""
    for key, value in data.items() if isinstance(data, dict) else ():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and depth > 1:
            yield from _scalars(value, f"{name}.", depth - 1)
        elif isinstance(value, (str, int, float, bool)) or value is None:
            yield name, value
