from django.db import migrations, models


class Migration(migrations.Migration):
    """Each attempt's log path, recorded on its admission event: the step run's own log_path
    names only the latest attempt's, so the log of an older attempt is found through its events."""

    dependencies = [
        ("pipelines", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="steprunevent",
            name="log_path",
            field=models.CharField(
                blank=True, max_length=500,
                help_text="Where this attempt's log is kept (set on admission): the step run's own log_path "
                          "names only the latest attempt's.",
            ),
        ),
    ]
