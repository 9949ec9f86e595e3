"""The staff browser's queries in SQL: :class:`~consent_records.query.RecordQuery` answered by
PostgreSQL with indexes, page for page what :func:`consent_records.query.evaluate` answers.

Names are folded by the same :func:`~consent_records.query.fold_name` as everywhere else,
in Python, when a record is saved: ``ims.records.name_terms`` holds every prefix of every
folded name word (every substring, for words in scripts written without spaces), so "every
typed word starts some name word" is ``name_terms @> ARRAY[words]``, answered by a GIN
index. Name sorting uses the folded words under the "C" collation (code point order, like
Python's). Statuses are judged at the query's ``as_of`` in SQL from the row's base status,
consent time and content version, exactly as :func:`consent_records.lifecycle.judge` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from consent_records.lifecycle import ConsentRules, ConsentStatus, Lifecycle, judge
from consent_records.model import ConsentRecord
from consent_records.query import (
    _UNSPACED,
    ListedRecord,
    Page,
    RecordQuery,
    SearchRow,
    SortKey,
)

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import TupleRow

MAX_TERM = 64
"""Name words are indexed up to this many characters (a longer typed word still matches:
the row is re-checked against the whole word)."""


def name_terms(words: Sequence[str]) -> list[str]:
    """Every prefix of each word (every substring for unspaced scripts), without repeats."""
    terms: set[str] = set()
    for word in words:
        if _UNSPACED.search(word):
            for start in range(len(word)):
                for end in range(start + 1, min(len(word), start + MAX_TERM) + 1):
                    terms.add(word[start:end])
        else:
            for end in range(1, min(len(word), MAX_TERM) + 1):
                terms.add(word[:end])
    return sorted(terms)


def _version_key(version: str) -> list[int]:
    from content.history import version_key

    try:
        return list(version_key(version))
    except ValueError:
        return [0, 0, 0]


INDEX_COLUMNS = (
    "chain",
    "record_id",
    "seq",
    "reference",
    "reference_compact",
    "patient_name",
    "name_key",
    "name_terms",
    "date_of_birth",
    "chart",
    "completed_at",
    "completed_day",
    "physiotherapist_id",
    "flag_count",
    "missed_count",
    "has_substitute",
    "content_language",
    "content_version",
    "content_version_key",
    "base_status",
    "consented_at",
    "state_seq",
)


def index_row(
    chain: str, seq: int, record: ConsentRecord, lifecycle: Lifecycle
) -> tuple[tuple[str, ...], list[Any]]:
    """The ``ims.records`` row of a record just stored as entry ``seq``."""
    row = SearchRow.of(record, lifecycle)
    values: list[Any] = [
        chain,
        row.record_id,
        seq,
        row.reference,
        row.reference.replace("-", ""),
        row.patient_name,
        " ".join(row.name_words),
        name_terms(row.name_words),
        row.date_of_birth,
        row.chart,
        row.completed_at,
        row.completed_at.date(),
        row.physiotherapist_id,
        row.flag_count,
        row.missed_count,
        row.has_substitute,
        row.content_language,
        row.content_version,
        _version_key(row.content_version),
        row.base_status.value,
        row.consented_at,
        seq,
    ]
    return INDEX_COLUMNS, values


_ROW_COLUMNS = (
    "record_id, reference, patient_name, name_key, date_of_birth, chart, completed_at,"
    " physiotherapist_id, flag_count, missed_count, has_substitute, content_language,"
    " content_version, base_status, consented_at"
)


def _row(values: Sequence[Any]) -> SearchRow:
    (
        record_id,
        reference,
        patient_name,
        name_key,
        birth,
        chart,
        completed_at,
        physio,
        flags,
        missed,
        substitute,
        language,
        version,
        base,
        consented_at,
    ) = values
    return SearchRow(
        record_id=record_id,
        reference=reference,
        patient_name=patient_name,
        name_words=tuple(name_key.split()),
        date_of_birth=birth,
        chart=chart,
        completed_at=completed_at,
        physiotherapist_id=physio,
        flag_count=flags,
        missed_count=missed,
        has_substitute=substitute,
        content_language=language,
        content_version=version,
        base_status=ConsentStatus(base),
        consented_at=consented_at,
    )


_ROW_WIDTH = len(_ROW_COLUMNS.split(","))

_STATUS_SQL = (
    "CASE WHEN base_status <> 'active' OR consented_at IS NULL THEN base_status"
    " WHEN consented_at <= %(expired_by)s THEN 'expired'"
    " WHEN %(material)s::int[] IS NOT NULL AND content_version_key < %(material)s::int[]"
    " THEN 'reconsent_needed' ELSE 'active' END"
)
_SOON_SQL = (
    "(base_status = 'active' AND consented_at IS NOT NULL AND consented_at > %(expired_by)s"
    " AND consented_at <= %(soon_by)s)"
)
_ORDER_SQL = " ".join(
    f"WHEN '{status.value}' THEN {number}" for number, status in enumerate(ConsentStatus)
)


_BASE_OF = {
    ConsentStatus.EXPIRED: ConsentStatus.ACTIVE,
    ConsentStatus.RECONSENT_NEEDED: ConsentStatus.ACTIVE,
}


def _like_prefix(text: str) -> str:
    """A LIKE pattern matching what starts with ``text`` (an index range under "C")."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _material_key(rules: ConsentRules) -> list[int] | None:
    """The newest material revision's version: content older than it needs re-consent."""
    from content.history import version_key

    for revision in rules.history.revisions:
        if revision.material:
            return list(version_key(revision.version))
    return None


def search(
    conn: psycopg.Connection[TupleRow], chain: str, query: RecordQuery, rules: ConsentRules
) -> Page:
    """One page of the records browser, with the counts per status, in two statements."""
    params: dict[str, Any] = {
        "chain": chain,
        "expired_by": query.as_of - timedelta(days=rules.valid_days),
        "soon_by": query.as_of
        - timedelta(days=rules.valid_days)
        + timedelta(days=rules.expiring_within_days),
        "material": _material_key(rules),
    }
    where = ["chain = %(chain)s"]
    if query.physiotherapist_ids:
        where.append("physiotherapist_id = ANY(%(physios)s)")
        params["physios"] = sorted(query.physiotherapist_ids)
    if query.completed_from is not None:
        where.append("completed_day >= %(day_from)s")
        params["day_from"] = query.completed_from
        # The day is in each record's own offset: widen the indexed bound by a day each side.
        where.append("completed_at >= %(at_from)s")
        params["at_from"] = _day_start(query.completed_from) - timedelta(days=1)
    if query.completed_to is not None:
        where.append("completed_day <= %(day_to)s")
        params["day_to"] = query.completed_to
        where.append("completed_at < %(at_to)s")
        params["at_to"] = _day_start(query.completed_to) + timedelta(days=2)
    for flag, column in (
        (query.has_flags, "flag_count > 0"),
        (query.has_missed_questions, "missed_count > 0"),
        (query.has_substitute, "has_substitute"),
    ):
        if flag is not None:
            where.append(column if flag else f"NOT ({column})")
    if query.expiring_soon is not None:
        where.append(_SOON_SQL if query.expiring_soon else f"NOT {_SOON_SQL}")
    search_text = query.search
    if search_text is not None:
        alternatives = []
        if search_text.name_tokens:
            tokens = list(search_text.name_tokens)
            if all(len(t) <= MAX_TERM for t in tokens):
                alternatives.append("name_terms @> %(tokens)s::text[]")
            else:
                # A typed word longer than the indexed prefixes: compare the words.
                alternatives.append(
                    "name_terms @> %(short_tokens)s::text[] AND "
                    "(SELECT bool_and(EXISTS (SELECT 1 FROM unnest(string_to_array(name_key, ' '))"
                    " w WHERE starts_with(w, t))) FROM unnest(%(tokens)s::text[]) t)"
                )
                params["short_tokens"] = [t[:MAX_TERM] for t in tokens]
            params["tokens"] = tokens
        if search_text.reference_prefix:
            alternatives.append("reference_compact LIKE %(reference)s")
            params["reference"] = _like_prefix(search_text.reference_prefix)
        if search_text.chart_prefix:
            alternatives.append("chart LIKE %(chart_prefix)s")
            params["chart_prefix"] = _like_prefix(search_text.chart_prefix)
        if search_text.date_of_birth is not None:
            alternatives.append("date_of_birth = %(birth)s")
            params["birth"] = search_text.date_of_birth
        where.append("(" + " OR ".join(alternatives or ["false"]) + ")")
    condition = " AND ".join(where)
    base = f"SELECT *, {_STATUS_SQL} AS status FROM ims.records WHERE {condition}"
    text_search = search_text is not None
    if text_search:
        counts = {status: 0 for status in ConsentStatus}  # (read with the page below)
    elif query.completed_from is None and query.completed_to is None:
        counts = _kept_counts(conn, query, params)
    else:
        counts = {status: 0 for status in ConsentStatus}
        for status, number in conn.execute(
            f"SELECT status, count(*) FROM ({base}) m GROUP BY status",
            params,
        ).fetchall():
            counts[ConsentStatus(status)] = int(number)
    if query.statuses:
        chosen = [s for s in ConsentStatus if s in query.statuses]
        # The stored base status that can show as each chosen status (expired and re-consent
        # needed are active consents judged at as_of): lets an index narrow the rows first.
        status_where = " WHERE base_status = ANY(%(bases)s) AND status = ANY(%(statuses)s)"
        params["statuses"] = [s.value for s in chosen]
        params["bases"] = sorted({_BASE_OF.get(s, s).value for s in chosen})
    else:
        chosen = list(ConsentStatus)
        status_where = ""
    direction = "DESC" if query.descending else "ASC"
    if query.sort is SortKey.COMPLETED_AT:
        order = f"completed_at {direction}, record_id"
    elif query.sort is SortKey.PATIENT_NAME:
        order = f"name_key {direction}, completed_at DESC, record_id"
    else:
        order = f"CASE status {_ORDER_SQL} END {direction}, completed_at DESC, record_id"
    params["limit"] = query.limit
    params["offset"] = query.offset
    if text_search:
        # A text search matches few records, but the planner cannot know how few (the name
        # terms' GIN index has no useful estimate): find them once, narrow, then count and
        # sort them in the same statement (the counts ride on every row, and on an empty
        # row when the page is empty).
        sql = (
            f"WITH m AS MATERIALIZED (SELECT {_ROW_COLUMNS}, {_STATUS_SQL} AS status"
            f" FROM ims.records WHERE {condition}),"
            " c AS (SELECT coalesce(json_object_agg(status, n), '{}') AS counts"
            " FROM (SELECT status, count(*) AS n FROM m GROUP BY status) g)"
            f" SELECT p.*, c.counts FROM c LEFT JOIN LATERAL (SELECT {_ROW_COLUMNS}, status"
            f" FROM m{status_where} ORDER BY {order} LIMIT %(limit)s OFFSET %(offset)s) p"
            f" ON true ORDER BY {order.replace('CASE status', 'CASE p.status')}"
        )
        found = conn.execute(sql, params).fetchall()
        for status, number in (found[0][-1] if found else {}).items():
            counts[ConsentStatus(status)] = int(number)
        rows = [r[:_ROW_WIDTH] for r in found if r[0] is not None]
    else:
        sql = (
            f"SELECT {_ROW_COLUMNS} FROM ({base}) m{status_where}"
            f" ORDER BY {order} LIMIT %(limit)s OFFSET %(offset)s"
        )
        rows = conn.execute(sql, params).fetchall()
    total = sum(counts[s] for s in chosen)
    items = []
    for values in rows:
        row = _row(values)
        standing = judge(row.base_status, row.consented_at, row.content_version, query.as_of, rules)
        items.append(ListedRecord(row, standing))
    return Page(
        items=tuple(items), total=total, counts=counts, offset=query.offset, limit=query.limit
    )


def _kept_counts(
    conn: psycopg.Connection[TupleRow], query: RecordQuery, params: dict[str, Any]
) -> dict[ConsentStatus, int]:
    """The counts per status without reading every record: the kept counts per base status
    (``ims.record_counts``), and, for active consents, an index-only scan of those given
    since the expiry cut-off (the others have expired)."""
    kept = ["chain = %(chain)s"]
    recent = ["chain = %(chain)s", "base_status = 'active'"]
    if query.physiotherapist_ids:
        kept.append("physiotherapist_id = ANY(%(physios)s)")
        recent.append("physiotherapist_id = ANY(%(physios)s)")
    for flag, column, test in (
        (query.has_flags, "has_flags", "flag_count > 0"),
        (query.has_missed_questions, "has_missed", "missed_count > 0"),
        (query.has_substitute, "has_substitute", "has_substitute"),
    ):
        if flag is not None:
            kept.append(column if flag else f"NOT {column}")
            recent.append(test if flag else f"NOT ({test})")
    counts = {status: 0 for status in ConsentStatus}
    for base, number in conn.execute(
        f"SELECT base_status, sum(n) FROM ims.record_counts WHERE {' AND '.join(kept)}"
        " GROUP BY base_status",
        params,
    ).fetchall():
        counts[ConsentStatus(base)] = int(number)
    stale = "(%(material)s::int[] IS NOT NULL AND content_version_key < %(material)s::int[])"
    soon = "consented_at <= %(soon_by)s"
    undated_sql = (
        f"(SELECT count(*) FROM ims.records WHERE {' AND '.join(recent)} AND consented_at IS NULL)"
    )
    yes_no = (query.has_flags, query.has_missed_questions, query.has_substitute)
    if all(flag is None for flag in yes_no):
        # No yes/no filter: the days after the cut-off's come from ims.active_days; only
        # the cut-off's own day and the expiring window are read from the index.
        cutoff_day = params["expired_by"].astimezone(UTC).date()
        params["cutoff_day"] = cutoff_day
        params["next_day"] = datetime.combine(cutoff_day + timedelta(days=1), time(0), UTC)
        days = ["chain = %(chain)s", "consented_day > %(cutoff_day)s"]
        if query.physiotherapist_ids:
            days.append("physiotherapist_id = ANY(%(physios)s)")
        material = params["material"]
        reconsent = active = 0
        for key, number in conn.execute(
            f"SELECT content_version_key, sum(n) FROM ims.active_days WHERE {' AND '.join(days)}"
            " GROUP BY content_version_key",
            params,
        ).fetchall():
            if material is not None and list(key) < material:
                reconsent += int(number)
            else:
                active += int(number)
        row = conn.execute(
            f"SELECT count(*) FILTER (WHERE {stale} AND consented_at < %(next_day)s),"
            f" count(*) FILTER (WHERE NOT {stale} AND consented_at < %(next_day)s),"
            f" count(*) FILTER (WHERE {stale} AND {soon}),"
            f" count(*) FILTER (WHERE NOT {stale} AND {soon}), {undated_sql}"
            f" FROM ims.records WHERE {' AND '.join(recent)} AND consented_at > %(expired_by)s"
            " AND consented_at <= greatest(%(soon_by)s, %(next_day)s)",
            params,
        ).fetchone()
        assert row is not None
        edge_reconsent, edge_active, soon_reconsent, soon_active, undated = (int(v) for v in row)
        reconsent += edge_reconsent
        active += edge_active
    else:
        row = conn.execute(
            f"SELECT count(*) FILTER (WHERE {stale}), count(*) FILTER (WHERE NOT {stale}),"
            f" count(*) FILTER (WHERE {stale} AND {soon}),"
            f" count(*) FILTER (WHERE NOT {stale} AND {soon}), {undated_sql}"
            f" FROM ims.records WHERE {' AND '.join(recent)} AND consented_at > %(expired_by)s",
            params,
        ).fetchone()
        assert row is not None
        reconsent, active, soon_reconsent, soon_active, undated = (int(v) for v in row)
    total_active = counts[ConsentStatus.ACTIVE]
    if query.expiring_soon is True:
        counts = {status: 0 for status in ConsentStatus}
        counts[ConsentStatus.ACTIVE] = soon_active
        counts[ConsentStatus.RECONSENT_NEEDED] = soon_reconsent
        return counts
    counts[ConsentStatus.EXPIRED] = total_active - reconsent - active - undated
    counts[ConsentStatus.RECONSENT_NEEDED] = reconsent
    counts[ConsentStatus.ACTIVE] = active + undated
    if query.expiring_soon is False:
        counts[ConsentStatus.ACTIVE] -= soon_active
        counts[ConsentStatus.RECONSENT_NEEDED] -= soon_reconsent
    return counts


def _day_start(day: Any) -> Any:
    from datetime import UTC, datetime, time

    return datetime.combine(day, time(0), tzinfo=UTC)
