"""OneRoster 1.1 CSV roster import: read, validate everything, then write it all or nothing.

The public entry point is :func:`import_roster` (also reachable as
``learners.services.import_roster``). A roster is a folder or a zip holding ``orgs.csv``,
``academicSessions.csv``, ``courses.csv``, ``classes.csv``, ``users.csv`` and
``enrollments.csv`` (``demographics.csv`` is optional; ``manifest.csv`` is accepted but not
interpreted: every import is a bulk import of the six files). Mapping:

- ``orgs``: state, district and school orgs become organisations (other types are refused);
- ``academicSessions``: terms; ``courses``: courses; ``classes``: sections (the first of
  ``termSourcedIds`` is the section's term);
- ``users``: a login per user (never with a password from the file); a ``student`` also becomes
  a learner at the first school of ``orgSourcedIds`` (``identifier`` is the local id; a
  ``userIds`` entry typed ``state``/``stateID``/``SSID`` is the state student id; the first
  grade is the grade level); ``parent``/``guardian``/``relative`` users are linked to the students
  named in ``agentSourcedIds`` (either side may name the other); an ``administrator`` becomes
  school, district or state admin of each org in ``orgSourcedIds``;
- ``enrollments``: ``student`` rows enroll the learner, ``teacher`` rows make the user a teacher
  of the section; blank dates default to the section's term, so access ends with the term;
  ``administrator`` and ``proctor`` rows are counted as skipped;
- ``demographics``: validated; stored (sex and the race and ethnicity flags only) for learners at
  schools where an administrator turned it on (``learners.models.DemographicsImport``, for the
  equity audit's subgroups), otherwise counted as skipped and never stored (data minimisation).

Identity is the ``sourcedId``: a re-import updates changed rows and creates no duplicates.
``status=tobedeleted`` deactivates a user (and their learner) and deletes an enrollment; other
files refuse it. An import never removes what it does not mention, except that an administrator's
imported admin roles follow the ``orgSourcedIds`` of their row. Row numbers count the header as
row 1, as a spreadsheet shows them.
"""

from learners.oneroster.base import (
    MAX_FILE_BYTES,
    EntityCounts,
    ImportResult,
    RosterInvalid,
    RosterSource,
    RowError,
)
from learners.oneroster.files import read_files
from learners.oneroster.records import Roster, parse
from learners.oneroster.service import import_roster
from learners.oneroster.validate import validate
from learners.oneroster.write import apply

__all__ = [
    "MAX_FILE_BYTES",
    "EntityCounts",
    "ImportResult",
    "Roster",
    "RosterInvalid",
    "RosterSource",
    "RowError",
    "apply",
    "import_roster",
    "parse",
    "read_files",
    "validate",
]
