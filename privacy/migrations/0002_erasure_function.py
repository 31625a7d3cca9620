"""Erasure through a function, not a setting (RELIABILITY.md S14, ADR 7).

Before: the append-only triggers let any transaction that ran ``SET LOCAL mastery.erasure =
'on'`` update and delete history, and any session may set any such setting. Now:

- ``mastery_begin_erasure(learner, login)`` (``SECURITY DEFINER``: it runs as the owner, the
  application may only call it) notes in ``mastery_erasure``, a table only the owner can touch,
  that this transaction erases that learner (and their login), and turns the setting on;
  ``mastery_end_erasure()`` ends it. ``mastery_erasing()`` and ``mastery_may_erase(learner,
  login)`` check the note (the setting alone is no longer believed).
- One trigger function, ``mastery_refuse_change(path...)``, guards every append-only table
  (common.database_roles.APPEND_ONLY, mastery events now included): UPDATE is refused to
  everyone; DELETE only inside an erasure, and only of the erased learner's rows (found through
  the row's learner column or its parent's; audit entries also by their actor).
- Every other trigger function that skipped its work during an erasure by reading the setting
  (row versions, the moved-learner marker) now asks ``mastery_erasing()``.
"""

from django.db import migrations

from common.database_roles import APPEND_ONLY

GUC_CHECK = "current_setting('mastery.erasure', true) = 'on'"

FUNCTIONS = """
CREATE TABLE mastery_erasure (
    txid bigint NOT NULL,
    learner_id bigint NOT NULL,
    login_id bigint
);
CREATE INDEX mastery_erasure_txid ON mastery_erasure (txid);
REVOKE ALL ON mastery_erasure FROM PUBLIC;

CREATE FUNCTION mastery_begin_erasure(p_learner bigint, p_login bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO mastery_erasure (txid, learner_id, login_id)
    VALUES (txid_current(), p_learner, p_login);
    PERFORM set_config('mastery.erasure', 'on', true);
END;
$$;

CREATE FUNCTION mastery_end_erasure() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    DELETE FROM mastery_erasure WHERE txid = txid_current();
    PERFORM set_config('mastery.erasure', 'off', true);
END;
$$;

CREATE FUNCTION mastery_erasing() RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF current_setting('mastery.erasure', true) IS DISTINCT FROM 'on' THEN
        RETURN false;  -- the common case costs no lookup
    END IF;
    RETURN EXISTS (SELECT 1 FROM mastery_erasure WHERE txid = txid_current());
END;
$$;

CREATE FUNCTION mastery_may_erase(p_learner bigint, p_login bigint) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF current_setting('mastery.erasure', true) IS DISTINCT FROM 'on' THEN
        RETURN false;
    END IF;
    RETURN EXISTS (
        SELECT 1 FROM mastery_erasure
        WHERE txid = txid_current()
          AND (learner_id = p_learner OR (p_login IS NOT NULL AND login_id = p_login))
    );
END;
$$;

-- TG_ARGV: learner column (of the row, or of the parent), parent table ('' = the row itself),
-- actor column ('' = none), what the table is (for the message).
CREATE FUNCTION mastery_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_row jsonb;
    learner bigint;
    login bigint;
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('mastery.erasure', true) = 'on' THEN
        old_row := to_jsonb(OLD);
        IF TG_ARGV[1] = '' THEN
            learner := (old_row ->> TG_ARGV[0])::bigint;
        ELSE
            EXECUTE format('SELECT learner_id FROM %I WHERE id = $1', TG_ARGV[1])
                INTO learner USING (old_row ->> TG_ARGV[0])::bigint;
        END IF;
        IF TG_ARGV[2] <> '' THEN
            login := (old_row ->> TG_ARGV[2])::bigint;
        END IF;
        IF mastery_may_erase(learner, login) THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION '% on % is refused: % is append-only', TG_OP, TG_TABLE_NAME, TG_ARGV[3]
        USING ERRCODE = 'restrict_violation',
              HINT = 'Record a correction or a removal instead; only an erasure deletes.';
END;
$$;
"""

DROP_FUNCTIONS = """
DROP FUNCTION IF EXISTS mastery_refuse_change();
DROP FUNCTION IF EXISTS mastery_may_erase(bigint, bigint);
DROP FUNCTION IF EXISTS mastery_erasing();
DROP FUNCTION IF EXISTS mastery_end_erasure();
DROP FUNCTION IF EXISTS mastery_begin_erasure(bigint, bigint);
DROP TABLE IF EXISTS mastery_erasure;
"""

WHAT = {
    "evidence": "evidence history",
    "audit_auditentry": "the audit log",
    "audit_disclosure": "the record of disclosures",
    "mastery_masteryevent": "the mastery history",
    "common_rowversion": "row history",
}
# The trigger each table had before (None: none), for the way back.
PREVIOUS = {
    "audit_auditentry": "audit_refuse_change",
    "audit_disclosure": "audit_refuse_change",
    "common_rowversion": "common_rowversion_refuse_change",
    "mastery_masteryevent": None,
}


def _what(table: str) -> str:
    return WHAT.get(table) or WHAT[table.split("_", 1)[0]]


def _trigger(table: str) -> str:
    return f"{table}_append_only"


def guard_tables(apps, schema_editor):
    for table, path in APPEND_ONLY.items():
        column, parent, actor = (*path, "", "")[:3]
        arguments = ", ".join(f"'{value}'" for value in (column, parent, actor, _what(table)))
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {_trigger(table)} ON {table}")
        schema_editor.execute(
            f"CREATE TRIGGER {_trigger(table)} BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION mastery_refuse_change({arguments})"
        )


def unguard_tables(apps, schema_editor):
    for table in APPEND_ONLY:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {_trigger(table)} ON {table}")
        previous = PREVIOUS.get(table, "evidence_refuse_change")
        if previous:
            schema_editor.execute(
                f"CREATE TRIGGER {_trigger(table)} BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {previous}()"
            )


def _rewrite_checks(schema_editor, old: str, new: str) -> None:
    """Every other trigger function that reads the setting asks the note instead (or back)."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.oid, pg_get_functiondef(p.oid) FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'public' AND p.prorettype = 'trigger'::regtype"
            " AND p.proname <> 'mastery_refuse_change'"
            " AND strpos(pg_get_functiondef(p.oid), %s) > 0",
            [old],
        )
        for _oid, definition in cursor.fetchall():
            cursor.execute(definition.replace(old, new))


def ask_the_note(apps, schema_editor):
    _rewrite_checks(schema_editor, GUC_CHECK, "mastery_erasing()")


def read_the_setting(apps, schema_editor):
    _rewrite_checks(schema_editor, "mastery_erasing()", GUC_CHECK)


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0001_initial"),
        ("common", "0001_row_versions"),
        ("evidence", "0002_append_only_triggers"),
        ("audit", "0002_append_only_triggers"),
        ("learners", "0003_row_versions"),
        ("mastery", "0004_roster_moves"),
    ]

    operations = [
        migrations.RunSQL(FUNCTIONS, DROP_FUNCTIONS),
        migrations.RunPython(guard_tables, unguard_tables, elidable=False),
        migrations.RunPython(ask_the_note, read_the_setting, elidable=False),
    ]
