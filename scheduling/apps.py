from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling: teams, quotas, dispatch"

    def ready(self) -> None:
        from . import signals

        signals.connect()  # a change of quotas, cohorts or the cluster asks for a dispatch
