"""The learner of a mastery record or event: a lock per write instead of a key check per row.

A foreign key makes PostgreSQL check every inserted row against its learner at COMMIT (about 3
us a row, a quarter of a bulk recompute's time: bench/recompute.py). Both keys are dropped:

- the check on insert becomes one lock per write: every writer reads the learner FOR KEY SHARE
  before it writes (``mastery.sql.pair_context``, ``lock_learners_and_clear_markers``), the very
  lock the key check took, and writes nothing for a learner that is gone;
- the key's NO ACTION on delete becomes ``mastery_learner_keys``, a deferred constraint trigger
  on the learners table: deleting (or renumbering) a learner whose records or events remain
  fails at COMMIT with a foreign-key violation, as it did (an erasure deletes them first).
"""

import django.db.models.deletion
from django.db import migrations, models

TRIGGER = """
CREATE FUNCTION mastery_learner_keys() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM mastery_masteryrecord WHERE learner_id = OLD.id)
       OR EXISTS (SELECT 1 FROM mastery_masteryevent WHERE learner_id = OLD.id) THEN
        RAISE EXCEPTION 'learner % still has mastery records or events', OLD.id
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Erase the learner (privacy), which removes them first.';
    END IF;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER mastery_learner_keys
    AFTER DELETE OR UPDATE OF id ON learners_learner
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION mastery_learner_keys();
"""

DROP_TRIGGER = """
DROP TRIGGER IF EXISTS mastery_learner_keys ON learners_learner;
DROP FUNCTION IF EXISTS mastery_learner_keys();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("learners", "0004_demographics"),
        ("mastery", "0008_bulk_send_failed"),
    ]

    operations = [
        migrations.AlterField(
            model_name="masteryevent",
            name="learner",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="mastery_events",
                to="learners.learner",
            ),
        ),
        migrations.AlterField(
            model_name="masteryrecord",
            name="learner",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="mastery_records",
                to="learners.learner",
            ),
        ),
        migrations.RunSQL(TRIGGER, DROP_TRIGGER),
    ]
