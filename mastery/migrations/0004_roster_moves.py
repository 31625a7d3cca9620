"""A learner moved to another school may fall under other rules (ADR 8): the database marks
every record of theirs stale in the transaction that moved them, whoever moves them (the
roster import, the admin, a service, SQL). The markers are dated as already queued long ago,
so the next sweep (within a minute) queues their recomputes."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION mastery_mark_moved_learner() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('mastery.erasure', true) = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO mastery_stalemastery AS m (learner_id, standard_id, marked_at, enqueued_at)
    SELECT r.learner_id, r.standard_id, now(), TIMESTAMPTZ '2000-01-01 00:00:00+00'
    FROM mastery_masteryrecord r WHERE r.learner_id = NEW.id ORDER BY r.standard_id
    ON CONFLICT (learner_id, standard_id) DO UPDATE SET marked_at = m.marked_at;
    RETURN NULL;
END;
$$;

CREATE TRIGGER learners_learner_moved AFTER UPDATE OF school_id ON learners_learner
    FOR EACH ROW WHEN (OLD.school_id IS DISTINCT FROM NEW.school_id)
    EXECUTE FUNCTION mastery_mark_moved_learner();
"""

REVERSE = """
DROP TRIGGER IF EXISTS learners_learner_moved ON learners_learner;
DROP FUNCTION IF EXISTS mastery_mark_moved_learner();
"""


class Migration(migrations.Migration):
    dependencies = [("mastery", "0003_overrides"), ("learners", "0003_row_versions")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
