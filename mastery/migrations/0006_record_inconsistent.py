from django.db import migrations, models

# Records kept before the flag existed: every scored record of an assessable standard on two
# ratings or more is marked stale (one rating cannot disagree with itself; a grouping never
# carries the flag), so the sweep recomputes it and sets the flag; until then verify_mastery
# counts it stale, not wrong. Markers dated long ago (the services' UNSENT) are sent by the next
# sweep. Checked on the demo (4,125 records): 1,825 marked, one bulk recompute, 505 flagged,
# verify_mastery 0 stale and 0 wrong.
MARK_SCORED_RECORDS = """
INSERT INTO mastery_stalemastery (learner_id, standard_id, marked_at, enqueued_at)
SELECT m.learner_id, m.standard_id, now(), '2000-01-01T00:00:00Z'
FROM mastery_masteryrecord m JOIN standards_standard s ON s.id = m.standard_id
WHERE m.state = 'scored' AND m.evidence_count >= 2 AND NOT s.is_grouping
ON CONFLICT DO NOTHING
"""


class Migration(migrations.Migration):
    dependencies = [
        ("mastery", "0005_import_recompute"),
    ]

    operations = [
        migrations.AddField(
            model_name="masteryrecord",
            name="inconsistent",
            field=models.BooleanField(
                db_default=False,
                default=False,
                help_text="The field's estimators (mastery.estimators) disagree on these "
                "ratings by a level or more: the evidence is inconsistent, look again. Never on "
                "a grouping.",
            ),
        ),
        migrations.RunSQL(MARK_SCORED_RECORDS, migrations.RunSQL.noop),
    ]
