"""python manage.py bootstrap: everything `make run` needs before the processes start.

Migrates, creates the demo team and user (the password is generated, printed once, and never
stored in clear), and loads the example pipelines. Safe to run again: it changes only what is
missing, and saves an example as a new version only when its spec changed.
"""
from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from pipelines import services
from pipelines.examples import EXAMPLES, load_example
from pipelines.models import Pipeline
from pipelines.spec import spec_from_dict, spec_to_dict
from scheduling import redis_server
from scheduling.models import Membership, Quota, Team


class Command(BaseCommand):
    help = "Migrate, create the demo team and user, load the example pipelines."

    def add_arguments(self, parser):
        parser.add_argument("--team", default="demo")
        parser.add_argument("--username", default="demo")
        parser.add_argument("--url", default=f"http://{settings.TRELLIS_HOST}:{settings.TRELLIS_PORT}/")
        parser.add_argument("--check-ports", action="store_true",
                            help="fail early if the web or embedded Redis port is taken (make run does)")

    def handle(self, *args, team: str, username: str, url: str, check_ports: bool, **options):
        if check_ports:
            self._check_ports()
        call_command("migrate", interactive=False, verbosity=0)
        with transaction.atomic():
            team_obj, _ = Team.objects.get_or_create(name=team, defaults={"display_name": "Demo team"})
            Quota.objects.get_or_create(team=team_obj, defaults={
                "cpu": settings.TRELLIS_LOCAL_CPUS, "memory_mb": settings.TRELLIS_LOCAL_MEMORY_MB,
                "gpu": settings.TRELLIS_LOCAL_GPUS,
            })
            user, password = self._demo_user(username)
            Membership.objects.get_or_create(team=team_obj, user=user, defaults={"role": Membership.ADMIN})
            for name in EXAMPLES:
                self._load_example(team_obj, user, name)
        self.stdout.write(self.style.SUCCESS(f"\nTrellis is starting at {url}"))
        if password:
            self.stdout.write(f"  user:     {username}\n  password: {password}   (shown once; keep it)\n")
        else:
            self.stdout.write(f"  user:     {username} (password shown at first start; "
                              f"`python manage.py changepassword {username}` sets a new one)\n")

    def _check_ports(self) -> None:
        taken = []
        if redis_server.is_listening(settings.TRELLIS_HOST, settings.TRELLIS_PORT):
            taken.append(f"port {settings.TRELLIS_PORT} (web) is in use: set TRELLIS_PORT to a free port")
        if settings.IS_EMBEDDED_REDIS and redis_server.is_listening("127.0.0.1", settings.TRELLIS_REDIS_PORT):
            taken.append(f"port {settings.TRELLIS_REDIS_PORT} (embedded Redis) is in use: set TRELLIS_REDIS_PORT "
                         "to a free port (or REDIS_URL to a Redis server you run)")
        if taken:
            raise CommandError("another Trellis may be running here; " + "; ".join(taken))

    def _demo_user(self, username: str):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is not None:
            return user, None
        password = secrets.token_urlsafe(12)
        user = User.objects.create_user(username=username, password=password, is_staff=True, is_superuser=True)
        return user, password

    def _load_example(self, team: Team, user, name: str) -> None:
        example = load_example(name)
        spec = {"steps": example["steps"]}
        pipeline = Pipeline.objects.filter(team=team, name=name).first()
        if pipeline is None:
            services.create_pipeline(team=team, name=name, spec=spec, user=user,
                                     description=example.get("description", ""), message="example pipeline")
            self.stdout.write(f"loaded example pipeline '{name}'")
        elif spec_to_dict(spec_from_dict(spec)) != pipeline.latest_version.spec:
            services.save_version(pipeline, spec=spec, user=user, message="example pipeline updated")
            self.stdout.write(f"updated example pipeline '{name}'")
