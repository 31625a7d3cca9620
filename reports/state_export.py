"""The state accountability export: one row per learner per required standard, as of a day.

Columns (CSV): state student id, school id, grade, term, the standard's CASE identifier and
human code, state (``mastered`` / ``not_yet`` / ``insufficient_evidence`` / ``not_assessed``),
level, score, date first mastered, evidence count, method (``override`` where a teacher's
override in force set the record), and the provenance an auditor recomputes a row from (ADR 8):
calculation version, policy id and scale id in force (blank: the platform's default), the
rules' key (``mastery.derive.rules_key``, as the record stores it) and the digest of the counted
ratings (``mastery.derive.ratings_digest``; a grouping's is the sum of its
children's). JSON: an array of Ed-Fi ``StudentCompetencyObjective`` records keyed by the CASE
identifier (``objective``), with the platform's fields under ``_ext.mastery`` (Ed-Fi's
extension convention: ``calculationVersion``, ``policyId``, ``scaleId``, ``rulesKey``,
``ratingsDigest``).

As of a past day every row is computed from the ratings counted then; as of today (a day not
over yet) the rows are read from the records the workers keep (``mastery.core.fetch_records``),
with the provenance those records carry (their calculation version, rules key and digest), and
``Written.pending`` says how many of them still wait for a recompute. Once the queue has drained
the two give the same bytes.

Streams: learners are read in id-ordered pages; each page's counted ratings are evaluated with
the engine's bulk path (``mastery.core``), or its records read, and its rows written at once;
nothing grows with the number of learners. Rows are assembled from pre-formatted pieces (per
learner, per standard, per result) concatenated as numpy object arrays: formatting runs once per
distinct value.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Final, TextIO

import numpy as np
from django.db import connection

from learners.models import Organisation, Term
from learners.selectors import descendant_ids_as_of, placement_counts_as_of
from mastery import core
from mastery.core import INSUFFICIENT, SCORED, Results, RulesBook
from reports import edfi, outputs
from reports.outputs import ObjectArray, Pieces, csv_field, json_value, objects
from reports.plan import (
    LearnerRow,
    Required,
    RequirementPlan,
    StandardInfo,
    active_learner_pages,
)

COLUMNS: Final = (
    "state_student_id",
    "school_id",
    "grade",
    "term",
    "standard_identifier",
    "human_code",
    "state",
    "level",
    "score",
    "date_first_mastered",
    "evidence_count",
    "method",
    "calculation_version",
    "policy_id",
    "scale_id",
    "rules_key",
    "ratings_digest",
)
STATES: Final = ("mastered", "not_yet", "insufficient_evidence", "not_assessed")
MASTERED, NOT_YET, INSUFFICIENT_EVIDENCE, NOT_ASSESSED = range(4)
GRADE_DESCRIPTOR: Final = edfi.GRADE_NAMESPACE + "#"
# CEDS grade codes (the roster's) to Ed-Fi GradeLevelDescriptor code values.
ED_FI_GRADES: Final = {
    "IT": "Infant/toddler",
    "PR": "Preschool/Prekindergarten",
    "PK": "Preschool/Prekindergarten",
    "TK": "Preschool/Prekindergarten",
    "KG": "Kindergarten",
    "01": "First grade",
    "02": "Second grade",
    "03": "Third grade",
    "04": "Fourth grade",
    "05": "Fifth grade",
    "06": "Sixth grade",
    "07": "Seventh grade",
    "08": "Eighth grade",
    "09": "Ninth grade",
    "10": "Tenth grade",
    "11": "Eleventh grade",
    "12": "Twelfth grade",
    "13": "Grade 13",
    "PS": "Postsecondary",
    "UG": "Ungraded",
}

# Threads that read the next pages while this one writes (``_pages``), each on a connection.
READERS: Final = 2

type Progress = Callable[[int, int], None]
type Disclose = Callable[[Sequence[int]], None]


def school_code(organisation: Organisation) -> str:
    """The id a state knows a school by: its external id (NCES or state id), else ours."""
    return organisation.external_id or str(organisation.pk)


def state_of_row(state: int, mastered: bool) -> int:
    if state == SCORED:
        return MASTERED if mastered else NOT_YET
    return INSUFFICIENT_EVIDENCE if state == INSUFFICIENT else NOT_ASSESSED


@dataclass(frozen=True)
class Written:
    rows: int
    learners: int
    # Rows an Ed-Fi format leaves out (no level to send), by state.
    left_out: dict[str, int] | None = None
    # An export of today (read from the records): how many of its rows wait for a recompute.
    pending: int | None = None


# A row's provenance: calculation version, policy id and scale id ("": the default), rules key
# (hex; "": a record kept before keys).
type Source = tuple[str, str, str, str]


class _Layout:
    """How one format cuts a row into pieces, in ``order``: ``("l", i)`` the learner's i-th
    piece, ``("s", i)`` the standard's, or a result column named by ``_Columns``. A separator
    (JSON's comma) goes between rows."""

    order: tuple[tuple[str, int], ...]
    header: str
    footer: str
    separator: str

    def __init__(self, term: Term, book: RulesBook) -> None:
        self.term = term
        self.book = book

    def learner(self, learner: LearnerRow, school: str) -> tuple[str, ...]:
        raise NotImplementedError

    def standard(self, info: StandardInfo) -> tuple[str, ...]:
        raise NotImplementedError

    def result_columns(self, columns: _Columns, sources: list[Source]) -> dict[str, ObjectArray]:
        """Result pieces per row, from the row's state, level, score, day, count, method and
        provenance (``columns.rules`` indexes ``sources``)."""
        raise NotImplementedError

    def method_names(self) -> list[str]:
        """Method per (rules id * 2 + roll-up flag); the last: an override's."""
        names = []
        for rid in range(len(self.book.rules)):
            names += [self.book.method(rid), self.book.rollup_method(rid)]
        return [*names, core.OVERRIDE]

    def sources(self) -> list[Source]:
        """Provenance per (rules id * 2 + grouping flag): calculation version, policy id and
        scale id ("": the default), the rules' key (``derive.rules_key``, hex)."""
        out = []
        for rid, (policy, scale) in enumerate(self.book.sources):
            engine = self.book.rules[rid]
            for key in (engine.leaf_key, engine.grouping_key):
                out.append(
                    (
                        core.CALCULATION_VERSION,
                        str(policy or ""),
                        str(scale or ""),
                        core.digest_text(key),
                    )
                )
        return out

    def keep(self, columns: _Columns) -> np.ndarray | None:
        """Which rows this format writes (None: all of them)."""
        return None

    def state_level(self, columns: _Columns, piece: Callable[[str, str], str]) -> ObjectArray:
        labels = ["", *self.book.labels]
        table = objects([piece(state, label) for state in STATES for label in labels])
        return table[columns.state * len(labels) + columns.label + 1]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class _Columns:
    """What the result pieces are made of, one entry per output row (not assessed included)."""

    state: np.ndarray
    label: np.ndarray
    score: np.ndarray
    day: np.ndarray
    count: np.ndarray
    method: np.ndarray
    rules: np.ndarray  # provenance: rules id * 2 + grouping flag, or a record's own (beyond)
    digest: np.ndarray
    no_digest: np.ndarray  # a record kept without a digest (before provenance): left blank


class _Csv(_Layout):
    order = (
        ("l", 0), ("s", 0), ("r", 0), ("r", 1), ("r", 2), ("r", 3), ("r", 4), ("r", 5), ("r", 6),
    )  # fmt: skip
    header = outputs.csv_line(COLUMNS)
    footer = ""
    separator = ""

    def __init__(self, term: Term, book: RulesBook) -> None:
        super().__init__(term, book)
        self.pieces = Pieces(
            lambda h: outputs.score_text(h) + ",",
            lambda c: f"{c},",
            lambda d: outputs.date_text(d) + ",",
        )
        self._places: dict[tuple[str, str], str] = {}

    def learner(self, learner: LearnerRow, school: str) -> tuple[str, ...]:
        # School, grade and term: the same for thousands of learners, formatted once.
        place = self._places.get((school, learner.grade_level))
        if place is None:
            values = (school, learner.grade_level, self.term.title)
            place = self._places[(school, learner.grade_level)] = "".join(
                csv_field(v) + "," for v in values
            )
        return (csv_field(learner.state_student_id) + "," + place,)

    def standard(self, info: StandardInfo) -> tuple[str, ...]:
        return (csv_field(info.identifier) + "," + csv_field(info.human_code) + ",",)

    def result_columns(self, columns: _Columns, sources: list[Source]) -> dict[str, ObjectArray]:
        methods = objects([csv_field(name) + "," for name in self.method_names()])
        provenance = objects(["".join(csv_field(v) + "," for v in source) for source in sources])
        digests = core.digest_texts(columns.digest, suffix="\r\n")
        if columns.no_digest.any():
            digests[columns.no_digest] = "\r\n"
        return {
            "0": self.state_level(columns, lambda s, label: f"{s},{csv_field(label)},"),
            "1": self.pieces.scores(columns.score),
            "2": self.pieces.dates(columns.day),
            "3": self.pieces.counts(columns.count),
            "4": methods[columns.method],
            "5": provenance[columns.rules],
            "6": digests,
        }


class _EdFi(_Layout):
    """Ed-Fi ``StudentCompetencyObjective`` records (see ``reports.edfi``): rows without a
    level are left out (``left_out`` counts them by state); ``json`` opens with the companion
    records, ``ndjson`` writes one record per line."""

    order = (
        ("l", 0), ("s", 0), ("l", 1), ("r", 0), ("s", 1),
        ("r", 1), ("r", 2), ("r", 3), ("r", 4), ("r", 5), ("r", 6), ("r", 7),
    )  # fmt: skip
    header = "[\n"
    footer = "\n]}\n"
    separator = ",\n"
    prefix = ""
    suffix = ""

    def __init__(self, term: Term, book: RulesBook) -> None:
        super().__init__(term, book)
        self.pieces = Pieces(
            lambda h: json_value(None) if h < 0 else outputs.score_text(h),
            lambda c: f',"evidenceCount":{c}',
            lambda d: f',"dateFirstMastered":{json_value(outputs.date_text(d) or None)}',
        )
        self.levels = edfi.level_map()
        self.namespace = edfi.level_namespace()
        self.left_out = {STATES[NOT_ASSESSED]: 0, STATES[INSUFFICIENT_EVIDENCE]: 0}

    def set_companions(self, companions: edfi.Companions) -> None:
        self.header = companions.json_header()

    def learner(self, learner: LearnerRow, school: str) -> tuple[str, ...]:
        school_id = edfi.school_id(school, learner.school_id)
        grade = ED_FI_GRADES.get(learner.grade_level, learner.grade_level)
        first = (
            self.prefix
            + '{"studentReference":{"studentUniqueId":'
            + json_value(learner.state_student_id)
            + '},"objectiveCompetencyObjectiveReference":{"educationOrganizationId":'
            + str(school_id)
            + ',"objective":'
        )
        second = (
            ',"objectiveGradeLevelDescriptor":'
            + json_value(GRADE_DESCRIPTOR + grade)
            + '},"gradingPeriodReference":'
            + json_value(edfi.grading_period_reference(self.term, school_id))
        )
        return first, second

    def standard(self, info: StandardInfo) -> tuple[str, ...]:
        return (
            json_value(edfi.objective(info.identifier)),
            ',"_ext":{"mastery":{"standardIdentifier":'
            + json_value(info.identifier)
            + ',"humanCode":'
            + json_value(info.human_code),
        )

    def keep(self, columns: _Columns) -> np.ndarray:
        keep = (columns.state == MASTERED) | (columns.state == NOT_YET)
        for state in (NOT_ASSESSED, INSUFFICIENT_EVIDENCE):
            self.left_out[STATES[state]] += int((columns.state == state).sum())
        return keep  # type: ignore[no-any-return]

    def result_columns(self, columns: _Columns, sources: list[Source]) -> dict[str, ObjectArray]:
        def level(state: str, label: str) -> str:
            code = edfi.level_code(label, state == "mastered", self.levels)
            value = edfi.descriptor(self.namespace, code)
            return ',"competencyLevelDescriptor":' + json_value(value)

        def state_level(state: str, label: str) -> str:
            return f',"state":{json_value(state)},"level":{json_value(label or None)},"score":'

        methods = objects([f',"method":{json_value(name)}' for name in self.method_names()])
        provenance = objects(
            [
                f',"calculationVersion":{json_value(version)},"policyId":{policy or "null"}'
                f',"scaleId":{scale or "null"},"rulesKey":{json_value(key or None)}'
                for version, policy, scale, key in sources
            ]
        )
        closing = f'"}}}}}}{self.suffix}'
        digests = core.digest_texts(columns.digest, ',"ratingsDigest":"', closing)
        if columns.no_digest.any():
            digests[columns.no_digest] = f',"ratingsDigest":null}}}}}}{self.suffix}'
        return {
            "0": self.state_level(columns, level),
            "1": self.state_level(columns, state_level),
            "2": self.pieces.scores(columns.score),
            "3": self.pieces.dates(columns.day),
            "4": self.pieces.counts(columns.count),
            "5": methods[columns.method],
            "6": provenance[columns.rules],
            "7": digests,
        }


class _EdFiLines(_EdFi):
    """NDJSON: the companion records, then one student record per line."""

    footer = "\n"
    separator = "\n"
    prefix = edfi.ndjson_prefix()
    suffix = "}"

    def set_companions(self, companions: edfi.Companions) -> None:
        self.header = companions.ndjson_header()


LAYOUTS: Final = {"csv": _Csv, "json": _EdFi, "ndjson": _EdFiLines}
FORMATS: Final = tuple(LAYOUTS)


def write_state_export(
    *,
    organisation: Organisation,
    term: Term,
    as_of: datetime.date,
    file_format: str,
    out: TextIO,
    progress: Progress | None = None,
    disclose: Disclose | None = None,
    packed: bool | None = None,
    prefetch: bool | None = None,
    recorded: bool | None = None,
) -> Written:
    """Write the export of every active learner at or below ``organisation`` with something to
    master in ``term``, as of the end of ``as_of``; return the numbers of rows and learners. A
    past day's export reads the roster (who was active where, in which grade), the
    requirements, elective choices, standards and the rules as they stood at its end, so it
    gives the same bytes whenever it is made again (ADR 8).

    ``recorded`` (default: ``core.reads_records(as_of)``, today) reads the rows from the
    records the workers keep (``Written.pending``: how many wait for a recompute); False
    computes them from the ratings counted by the end of ``as_of``, as for a past day.

    ``progress(rows_done, rows_total)`` is called after each page of learners (the total is an
    estimate until the end); ``disclose(ids)`` receives the ids of the learners each page
    included, for the record of disclosures. ``packed`` forces (or refuses) the packed read of
    ratings (tests compare the two); the rows are the same either way. ``prefetch`` (default:
    outside a transaction) reads the next pages' ratings in ``READERS`` threads, each on its
    own connection, and writes the file in another, while this one evaluates the current page."""
    if file_format not in LAYOUTS:
        raise ValueError(f"format: one of {', '.join(LAYOUTS)}, got {file_format!r}")
    at = core.end_of_day(as_of)
    # A past day: the roster, requirements and rules as they stood at its end (ADR 8).
    then = core.stood_at(as_of)
    book = RulesBook(at=then)
    plan = RequirementPlan(term_id=term.pk, at=at, sets_at=then)
    layout = LAYOUTS[file_format](term, book)
    from_records = then is None if recorded is None else recorded
    # The school ids as a list: a page query with the descendants subquery costs 100 ms.
    schools = descendant_ids_as_of(organisation, then)
    placed = placement_counts_as_of(schools, then)
    total = _estimate_rows(plan, placed)
    if isinstance(layout, _EdFi):
        layout.set_companions(_companions(plan, placed, term))
    writer = _Writer(plan, book, layout, at, packed, from_records)
    rows_done = learners_done = 0
    pages = active_learner_pages(schools, then)
    # Threads (reading ahead, writing behind) need the rows committed: a second connection
    # cannot see this one's uncommitted rows, so inside a transaction (tests) none are used.
    threaded = not connection.in_atomic_block if prefetch is None else prefetch
    with _written_behind(out, threaded) as write:
        write(layout.header)
        for text, rows, included in _pages(writer, pages, threaded):
            if rows:
                if rows_done:
                    write(layout.separator, text)
                else:
                    write(text)
                rows_done += rows
                learners_done += len(included)
                if disclose is not None:
                    disclose(included)
            if progress is not None:
                progress(rows_done, max(total, rows_done))
        write(layout.footer)
    if progress is not None:
        progress(rows_done, rows_done)
    left_out = dict(layout.left_out) if isinstance(layout, _EdFi) else None
    pending = writer.pending if from_records else None
    return Written(rows=rows_done, learners=learners_done, left_out=left_out, pending=pending)


@contextlib.contextmanager
def _written_behind(out: TextIO, threaded: bool) -> Iterator[Callable[..., None]]:
    """``write(*texts)``: the texts written to ``out`` in order, by a second thread while this
    one makes the next page (the copy of a page's megabytes into the file, and the operating
    system's work for it, no longer hold it up). One write waits at most, so memory stays that
    of two pages; an error of a write is raised by the next call or at the end. Not
    ``threaded``: each write is made at once, here."""

    def write_all(*texts: str) -> None:
        for text in texts:
            out.write(text)

    if not threaded:
        yield write_all
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-write") as pool:
        last: Future[None] | None = None

        def write(*texts: str) -> None:
            nonlocal last
            if last is not None:
                last.result()
            last = pool.submit(write_all, *texts)

        try:
            yield write
        finally:
            if last is not None:
                last.result()


def _companions(
    plan: RequirementPlan, placed: Mapping[tuple[int, str], int], term: Term
) -> edfi.Companions:
    """The Ed-Fi records the student records reference: level descriptors, the grading period
    of each school, and a competency objective per school, grade and required (or elective)
    standard, for each (school, grade) with learners (``placed``)."""
    pairs = sorted(placed, key=str)
    codes = {
        org.pk: edfi.school_id(school_code(org), org.pk)
        for org in Organisation.objects.filter(pk__in={school for school, _ in pairs}).only(
            "pk", "external_id"
        )
    }
    objectives: dict[tuple[int, str, str], dict[str, object]] = {}
    for school, grade in pairs:
        wanted = [item.standard_id for item in plan.required(school, grade)]
        for group in plan.requirement_set(school, grade).electives:
            wanted.extend(group.standard_ids)
        plan.load_standards(wanted)
        for standard_id in wanted:
            info = plan.standards[standard_id]
            key = (codes[school], grade, info.identifier)
            objectives.setdefault(
                key,
                edfi.competency_objective(
                    identifier=info.identifier,
                    human_code=info.human_code,
                    statement=info.statement,
                    grade=ED_FI_GRADES.get(grade, grade),
                    school=codes[school],
                ),
            )
    levels = list(dict.fromkeys(edfi.level_map().values()))
    levels += [code for code in edfi.MASTERED_FALLBACK if code not in levels]
    return edfi.Companions(
        levels=levels,
        period=edfi.period_code(term),
        periods=[edfi.grading_period(term, school) for school in sorted(set(codes.values()))],
        objectives=[objectives[key] for key in sorted(objectives)],
    )


def _pages(
    writer: _Writer, pages: Iterator[list[LearnerRow]], threaded: bool
) -> Iterator[tuple[str, int, list[int]]]:
    """Each page rendered, in order. ``threaded``: ``READERS`` threads read the next pages
    while Python evaluates and writes this one, each on its own connection: PostgreSQL's
    reading of a page takes longer than Python's evaluation of it, so one reader kept Python
    waiting (whole state, 100,000 learners: 8.1 against 6.3-6.9 s with two, measured). Not
    ``threaded``: the pages are read here, one by one."""
    if not threaded:
        for page in pages:
            prepared = writer.prepare(page)
            yield writer.finish(prepared, writer.read(prepared))
        return
    with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="report-read") as pool:
        try:
            pending: deque[tuple[_Prepared, Future[_Read]]] = deque()
            for page in pages:
                prepared = writer.prepare(page)
                pending.append((prepared, pool.submit(writer.read, prepared)))
                if len(pending) > READERS:
                    done, future = pending.popleft()
                    yield writer.finish(done, future.result())
            while pending:
                done, future = pending.popleft()
                yield writer.finish(done, future.result())
        finally:
            _close_connections(pool)


def _close_connections(pool: ThreadPoolExecutor) -> None:
    """Close each reading thread's own connection (Django's are per thread), in that thread:
    one task per thread, held at a barrier until every thread has one."""
    barrier = threading.Barrier(READERS)

    def close() -> None:
        barrier.wait(timeout=60)
        connection.close()  # resolved in the calling thread: that thread's own connection

    for future in [pool.submit(close) for _ in range(READERS)]:
        future.result()


def _groupings(
    wanted: list[tuple[LearnerRow, tuple[Required, ...]]], children_of: Mapping[int, object]
) -> list[tuple[int, int]]:
    """(learner, grouping) of each required grouping on the page: looked up once per list of
    requirements (learners of a school and grade share theirs), not once per learner."""
    if not children_of:
        return []
    found: dict[int, list[int]] = {}
    out: list[tuple[int, int]] = []
    for learner, items in wanted:
        ids = found.get(id(items))
        if ids is None:
            ids = found[id(items)] = [r.standard_id for r in items if r.standard_id in children_of]
        out.extend((learner.id, grouping) for grouping in ids)
    return out


def _estimate_rows(plan: RequirementPlan, placed: Mapping[tuple[int, str], int]) -> int:
    """Learners per (school, grade) times their requirements."""
    return sum(n * len(plan.required(school, grade)) for (school, grade), n in placed.items())


@dataclass(frozen=True)
class _Prepared:
    """A page's learners with their requirements, and the standards whose ratings to read."""

    wanted: list[tuple[LearnerRow, tuple[Required, ...]]]
    standard_ids: list[int]
    own: frozenset[int]  # learners with electives of their own


# What a page reads: its counted ratings (computed), or its records (today).
type _Read = core.Ratings | core.RecordedColumns


@dataclass(frozen=True)
class _Template:
    """A learner's rows before results: standard ids and their not-assessed method numbers."""

    standard_ids: np.ndarray
    methods: np.ndarray


class _Writer:
    """Reads, evaluates and renders one page of learners at a time."""

    def __init__(
        self,
        plan: RequirementPlan,
        book: RulesBook,
        layout: _Layout,
        at: datetime.datetime,
        packed: bool | None,
        recorded: bool = False,
    ) -> None:
        self.plan = plan
        self.book = book
        self.layout = layout
        self.at = at
        self.packed = packed
        self.recorded = recorded
        self.pending = 0  # rows read from records that wait for a recompute
        self.schools: dict[int, str] = {}
        self.templates: dict[object, _Template] = {}
        self.leaves: dict[object, frozenset[int]] = {}

    def prepare(self, page: list[LearnerRow]) -> _Prepared:
        """Who on the page has something to master, and which standards to read."""
        plan = self.plan
        electives = plan.electives(page)
        wanted = [
            (learner, items)
            for learner in page
            if (items := plan.learner_requirements(learner, electives))
        ]
        standard_ids: set[int] = set()
        for learner, items in wanted:
            if self.recorded:  # the records of the standards themselves (groupings too)
                standard_ids.update(item.standard_id for item in items)
            else:
                standard_ids |= self._leaves(learner, items, learner.id in electives)
        return _Prepared(wanted, sorted(standard_ids), frozenset(electives))

    def read(self, prepared: _Prepared) -> _Read:
        """The page's counted ratings, or its records (the slow part: a separate thread may
        run it)."""
        learner_ids = [learner.id for learner, _ in prepared.wanted]
        if self.recorded:
            return core.fetch_records(learner_ids, prepared.standard_ids, self.plan.children_of)
        return core.counted_rating_columns(
            learner_ids, prepared.standard_ids, self.at, packed=self.packed
        )

    def finish(self, prepared: _Prepared, read: _Read) -> tuple[str, int, list[int]]:
        """The page's text, its number of rows and the ids of the learners it includes."""
        plan, wanted = self.plan, prepared.wanted
        if not wanted:
            return "", 0, []
        school_of = {learner.id: learner.school_id for learner, _ in wanted}
        framework_of = {sid: info.framework_id for sid, info in plan.standards.items()}
        if isinstance(read, core.RecordedColumns):
            recorded = core.recorded_results(
                read,
                school_of=school_of,
                framework_of=framework_of,
                children_of=plan.children_of,
                book=self.book,
            )
            self.pending += recorded.pending_among(
                {learner.id: [r.standard_id for r in items] for learner, items in wanted}
            )
            text, rows = self._render(wanted, recorded.results, prepared.own, recorded)
            return text, rows, [learner.id for learner, _ in wanted]
        results = core.evaluate_all(
            read,
            learner_ids=list(school_of),
            standard_ids=prepared.standard_ids,
            groupings=_groupings(wanted, plan.children_of),
            at=self.at,
            school_of=school_of,
            framework_of=framework_of,
            children_of=plan.children_of,
            book=self.book,
        )
        text, rows = self._render(wanted, results, prepared.own)
        return text, rows, [learner.id for learner, _ in wanted]

    def _leaves(
        self, learner: LearnerRow, items: tuple[Required, ...], own: bool
    ) -> frozenset[int]:
        key: object = items if own else (learner.school_id, learner.grade_level)
        found = self.leaves.get(key)
        if found is None:
            found = frozenset(
                leaf for item in items for leaf in self.plan.leaves_under(item.standard_id)
            )
            self.leaves[key] = found
        return found

    def _school(self, school_id: int) -> str:
        if school_id not in self.schools:
            organisation = Organisation.objects.only("pk", "external_id").get(pk=school_id)
            self.schools[school_id] = school_code(organisation)
        return self.schools[school_id]

    def _template(self, learner: LearnerRow, items: tuple[Required, ...], own: bool) -> _Template:
        """Shared by every learner of the same school and grade (unless they chose electives)."""
        key: object = (
            (learner.school_id, items) if own else (learner.school_id, learner.grade_level)
        )
        found = self.templates.get(key)
        if found is None:
            methods = []
            for item in items:
                info = self.plan.standards[item.standard_id]
                rid = self.book.rules_id(learner.school_id, info.framework_id)
                methods.append(rid * 2 + int(info.is_grouping))
            found = _Template(
                np.array([item.standard_id for item in items], np.int64),
                np.array(methods, np.int64),
            )
            if len(self.templates) < 10_000:
                self.templates[key] = found
        return found

    def _render(
        self,
        wanted: list[tuple[LearnerRow, tuple[Required, ...]]],
        results: Results,
        own: Collection[int],
        recorded: core.RecordedResults | None = None,
    ) -> tuple[str, int]:
        layout = self.layout
        learner_pieces: list[tuple[str, ...]] = []
        templates: list[_Template] = []
        for learner, items in wanted:
            learner_pieces.append(layout.learner(learner, self._school(learner.school_id)))
            templates.append(self._template(learner, items, learner.id in own))
        lengths = [t.standard_ids.shape[0] for t in templates]
        rows_l = np.repeat(np.arange(len(wanted), dtype=np.int64), lengths)
        rows_s = np.concatenate([t.standard_ids for t in templates])
        known = np.array(sorted(self.plan.standards), np.int64)
        learner_ids = np.array([learner.id for learner, _ in wanted], np.int64)
        found = results.find(learner_ids[rows_l], rows_s, known)
        hit = found >= 0
        at = np.where(hit, found, 0)
        size = rows_l.shape[0]

        def pick(values: np.ndarray, missing: np.ndarray | int) -> np.ndarray:
            if not len(results):
                return np.broadcast_to(missing, (size,)).astype(np.int64)
            return np.where(hit, values[at], missing).astype(np.int64)

        state = np.where(
            results.state == SCORED,
            np.where(results.mastered, MASTERED, NOT_YET),
            np.where(results.state == INSUFFICIENT, INSUFFICIENT_EVIDENCE, NOT_ASSESSED),
        )
        template_methods = np.concatenate([t.methods for t in templates])
        override_method = 2 * len(self.book.rules)
        # rules id * 2 + grouping (a template's method number is that too)
        rules = pick(results.rules_id, template_methods // 2) * 2 + template_methods % 2
        sources = layout.sources()
        no_digest = np.zeros(size, bool)
        if recorded is not None and len(results):
            rules, no_digest = self._recorded_sources(recorded, hit, at, rules, sources)
        columns = _Columns(
            state=pick(state, NOT_ASSESSED),
            label=pick(results.label, -1),
            score=pick(results.score_hundredths, -1),
            day=pick(results.first_day, core.NO_DAY),
            count=pick(results.evidence_count, 0),
            method=pick(
                np.where(
                    results.overridden, override_method, results.rules_id * 2 + results.rollup
                ),
                template_methods,
            ),
            rules=rules,
            digest=pick(results.digest, 0),
            no_digest=no_digest,
        )
        mask = layout.keep(columns)
        if mask is not None:
            rows_l, rows_s = rows_l[mask], rows_s[mask]
            columns = _Columns(*(getattr(columns, f.name)[mask] for f in fields(_Columns)))
        result_pieces = layout.result_columns(columns, sources)
        standard_pieces = [layout.standard(self.plan.standards[i]) for i in known.tolist()]
        standard_index = np.searchsorted(known, rows_s)
        parts: list[ObjectArray] = []
        for source, slot in layout.order:
            if source == "l":
                parts.append(objects([p[slot] for p in learner_pieces])[rows_l])
            elif source == "s":
                parts.append(objects([p[slot] for p in standard_pieces])[standard_index])
            else:
                parts.append(result_pieces[str(slot)])
        rows = int(rows_l.shape[0])
        if layout.separator:
            parts.append(np.full(rows, layout.separator, dtype=object))
        text = "".join(np.stack(parts, axis=1).ravel().tolist())
        if layout.separator:
            text = text[: -len(layout.separator)]
        return text, rows

    def _recorded_sources(
        self,
        recorded: core.RecordedResults,
        hit: np.ndarray,
        at: np.ndarray,
        rules: np.ndarray,
        sources: list[Source],
    ) -> tuple[np.ndarray, np.ndarray]:
        """The provenance of rows read from records: a record's own calculation version and
        rules key where they are not those in force (a record waiting for its recompute: new
        entries appended to ``sources``, one per distinct provenance), and which rows have no
        digest (kept before provenance)."""
        in_force = np.array([int(source[3], 16) for source in sources], np.uint64).view(np.int64)
        version = recorded.version[at]
        unkeyed = recorded.unkeyed[at]
        stored = np.where(unkeyed, 0, recorded.rules_key[at])
        own = hit & (unkeyed | (stored != in_force[rules]) | (version != core.CALCULATION_VERSION))
        if own.any():
            rows = np.flatnonzero(own)
            names, version_code = np.unique(version[rows], return_inverse=True)
            combos, which = np.unique(
                np.stack(
                    [rules[rows], version_code.reshape(-1), stored[rows], unkeyed[rows]], axis=1
                ),
                axis=0,
                return_inverse=True,
            )
            first = len(sources)
            for rule, code, key, no_key in combos.tolist():
                _version, policy, scale, _key = sources[rule]
                sources.append(
                    (str(names[code]), policy, scale, "" if no_key else core.digest_text(key))
                )
            rules = rules.copy()
            rules[rows] = first + which.reshape(-1)
        return rules, hit & recorded.undigested[at]
