"""Row versions of the roster (ADR 8): what a report as of a past day reads.

Organisations (their place in the tree), learners (school, grade, active: never names) and
enrollments are versioned by the ``common_version_row`` trigger.
"""

from django.db import migrations

from common.versioning import versioned_table_sql

VERSIONED = (
    ("learners_organisation", ("parent_id", "kind"), ""),
    ("learners_learner", ("school_id", "grade_level", "active"), "id"),
    ("learners_enrollment", ("learner_id", "section_id", "begin_date", "end_date"), "learner_id"),
)


class Migration(migrations.Migration):
    dependencies = [("learners", "0002_roster_import_checked"), ("common", "0001_row_versions")]

    operations = [
        migrations.RunSQL(*versioned_table_sql(table, columns, learner))
        for table, columns, learner in VERSIONED
    ]
