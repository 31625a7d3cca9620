from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("mastery", "0006_record_inconsistent")]

    operations = [
        migrations.AddField(
            model_name="masteryrecord",
            name="rules_key",
            field=models.BigIntegerField(
                blank=True,
                help_text="The digest of the rules that computed the record "
                "(mastery.derive.rules_key); a record whose key is not the key of the rules in "
                "force is stale (ADR 8).",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="masteryrecord",
            name="ratings_digest",
            field=models.BigIntegerField(
                blank=True,
                help_text="A digest of the counted ratings the record was computed from (ADR 8, "
                "provenance).",
                null=True,
            ),
        ),
    ]
