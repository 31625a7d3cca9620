"""Row versions of the settings reports depend on (ADR 8): requirements, elective groups and
their standards, elective choices, calculation policies, proficiency scales and their levels,
and the standards' place in their framework (parent, status, grouping)."""

from django.db import migrations, models

from common.versioning import versioned_table_sql

VERSIONED = (
    (
        "standards_requirement",
        ("organisation_id", "term_id", "grade_level", "standard_id", "priority"),
        "",
        True,
    ),
    (
        "standards_electivegroup",
        ("organisation_id", "term_id", "grade_level", "title", "choose", "priority"),
        "",
        True,
    ),
    ("standards_electivegroup_standards", ("electivegroup_id", "standard_id"), "", False),
    (
        "standards_electivechoice",
        ("group_id", "learner_id", "standard_id", "status", "decided_at"),
        "learner_id",
        False,
    ),
    (
        "standards_calculationpolicy",
        (
            "organisation_id",
            "framework_id",
            "method",
            "params",
            "min_evidence",
            "rollup_rule",
            "rollup_params",
            "overrides_end_with_new_evidence",
        ),
        "",
        True,
    ),
    ("standards_proficiencyscale", ("organisation_id", "mastery_threshold"), "", True),
    (
        "standards_scalelevel",
        ("scale_id", "points", "label", "colour", "cut_point", "description"),
        "",
        False,
    ),
    ("standards_standard", ("framework_id", "parent_id", "status", "is_grouping"), "", True),
)


class Migration(migrations.Migration):
    dependencies = [("standards", "0003_framework_package_parts"), ("common", "0001_row_versions")]

    operations = [
        migrations.AddField(
            model_name="calculationpolicy",
            name="overrides_end_with_new_evidence",
            field=models.BooleanField(
                default=False,
                help_text="A teacher's override stops applying once a counted rating "
                "demonstrated after it exists (otherwise it stands until the teacher clears it).",
            ),
        ),
    ] + [
        migrations.RunSQL(*versioned_table_sql(table, columns, learner, created_at=created))
        for table, columns, learner, created in VERSIONED
    ]
