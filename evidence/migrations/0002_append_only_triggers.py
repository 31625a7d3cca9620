"""PostgreSQL refuses UPDATE and DELETE on the evidence app's history tables (ADR 5, R7).

Every table of the app is history. The one way past the refusal is a transaction that ran
``SET LOCAL mastery.erasure = 'on'`` (the erasure service). TRUNCATE is not refused (the test
suite's flush needs it; no application code issues it). PostgreSQL is the only engine, the
embedded default included, so every database has them.
"""

from django.db import migrations

TABLES = (
    "evidence_evidence",
    "evidence_evidencestatuschange",
    "evidence_evidenceremoval",
    "evidence_artifact",
    "evidence_reflection",
    "evidence_rating",
    "evidence_ratingremoval",
)

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION evidence_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('mastery.erasure', true) = 'on' THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% on % is refused: evidence history is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation',
              HINT = 'Record a correction (a superseding rating) or a removal instead.';
END;
$$;
"""

DROP_FUNCTION = "DROP FUNCTION IF EXISTS evidence_refuse_change();"


def _trigger_name(table: str) -> str:
    return f"{table}_append_only"


def create_triggers(apps, schema_editor):
    schema_editor.execute(CREATE_FUNCTION, params=None)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {_trigger_name(table)} BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION evidence_refuse_change();"
        )


def drop_triggers(apps, schema_editor):
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {_trigger_name(table)} ON {table};")
    schema_editor.execute(DROP_FUNCTION)


class Migration(migrations.Migration):
    dependencies = [("evidence", "0001_initial")]

    operations = [migrations.RunPython(create_triggers, drop_triggers, elidable=False)]
