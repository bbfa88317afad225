"""Test support: a scan for personal data (ID numbers and names of beneficiaries) wherever a run leaves anything.

The beneficiary sheet `帮扶对象明细` of a submission (template v2) holds names and 18-digit ID numbers
(GB 11643: 6-digit region, 8-digit birth date, 3-digit sequence, a check character 0-9 or X). None of it may
survive a run outside the archive, which keeps the files as received. `personal_data` collects what the raw
workbooks hold; the scanners look for it, and for anything shaped like an ID number, in

- `scan_warehouse`: every table and view of every schema of a DuckDB file, every column cast to text (SQL
  picks the distinct values that could hold either, Python decides);
- `scan_files`: every file under a folder (reports, annotated copies, Data Docs, ...), except its top-level
  `archive/`; text as UTF-8, zip-like files (`.xlsx`) member by member, SQLite and DuckDB files row by row and as
  raw bytes (freed pages keep old rows), Parquet row by row, anything else as raw bytes;
- `scan_prefect`: the artifacts, logs, flow runs and task runs the current Prefect API holds (of given runs);
- `scan_text`: one text (a captured console, say).

Each returns a list of leaks, each a line saying where and what, with every ID and every name it was given
masked (`mask`): `4401**********123X` (first 4, stars, last 4), `张**` (first character, stars); a name it was
not given, beside an ID in the context, it cannot know to mask. An empty list means clean.

The ID shape is matched with lookarounds so that a run of 18 digits inside a longer run of letters and digits
(a 64-hex HMAC, a SHA-256 file name) is not one; a masked ID is not one either. Full-width digits (typed with a
Chinese input method) are read as digits. Names shorter than two characters are not looked for (no Chinese
name is; one character would match everywhere).
"""

from __future__ import annotations

import gzip
import html
import io
import json
import os
import re
import sqlite3
import urllib.parse
import zipfile
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

BENEFICIARY_SHEET = "帮扶对象明细"
NAME_HEADERS = frozenset({"姓名"})
ID_HEADERS = frozenset({"身份证号", "身份证号码", "公民身份号码"})
HEADER_SEARCH_ROWS = 10
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls")
MIN_NAME_LENGTH = 2

# the body of an ID number; around it no letter or digit (a hex digest, a longer number)
_ID_BODY = r"[1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]"
ID_PATTERN = rf"(?<![0-9A-Za-z]){_ID_BODY}(?![0-9A-Za-z])"
ID_RE = re.compile(ID_PATTERN)
ID_BYTES_RE = re.compile(ID_PATTERN.encode("ascii"))
# in a message, mask anything that could be (part of) an ID, neighbours or not
_LONG_DIGITS_RE = re.compile(r"[0-9]{14}[0-9]*[0-9Xx]")
_ID_VALUE_RE = re.compile(r"[0-9]{17}[0-9X]|[0-9]{15}")  # what personal_data accepts as an ID cell

_FULL_WIDTH = "０１２３４５６７８９Ｘｘ"
_HALF_WIDTH = "0123456789Xx"
_TO_HALF_WIDTH = str.maketrans(_FULL_WIDTH, _HALF_WIDTH)
_SHARED_STRING_RE = re.compile(r"<si>(.*?)</si>", re.S)
_TEXT_RUN_RE = re.compile(r"<t(?:\s[^>]*)?>(.*?)</t>", re.S)
_U_ESCAPE_RE = re.compile(r"\\u([0-9a-fA-F]{4})")
_ESCAPE_RE = re.compile(r"(?:\\u[0-9a-fA-F]{4}|&#[0-9]+;|&#[xX][0-9a-fA-F]+;|%[0-9a-fA-F]{2})+")
_WIDE_RUN_RE = re.compile(r"[^\x00-\x7f]{2,}")  # where a Chinese name can be
ID_RUN_MIN = 15
_ID_RUN_RE = re.compile(rf"[0-9X]{{{ID_RUN_MIN},}}")  # where an ID can be (in an upper-cased text)
# SQL: a value that can hold an ID (15 digits) or a Chinese name, or that _decoded may change, goes to Python
_CANDIDATE_SQL_PATTERN = r"[0-9]{15}|[^\x00-\x7f]|\\u[0-9a-fA-F]{4}|&#|%[0-9a-fA-F]{2}"
_CONTEXT = 12  # characters of context either side of a match in a message
_MARGIN = 40  # masked beyond the context, so that an ID cut by the window's edge is masked too

SQLITE_MAGIC = b"SQLite format 3\x00"
DUCKDB_MAGIC = b"DUCK"  # at offset 8
PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"


# --- masking --------------------------------------------------------------------------------------------------


def mask_id(value: str) -> str:
    """`4401**********123X`: the first and last 4 characters, a star for each one between."""
    return value[:4] + "*" * (len(value) - 8) + value[-4:] if len(value) > 8 else "*" * len(value)


def mask_name(name: str) -> str:
    """`张**`: the first character, a star for each other."""
    return name[:1] + "*" * (len(name) - 1)


def mask(text: str, names: Iterable[str] = (), ids: Iterable[str] = ()) -> str:
    """`text` with every ID-shaped run of digits, every ID of `ids` and every name of `names` masked.

    Masks keep the length, so a position in `text` is the same position in its masked form.
    """
    text = _LONG_DIGITS_RE.sub(lambda match: mask_id(match.group()), text)
    upper = text.upper()
    for value in sorted({value.upper() for value in ids if value and value.upper() in upper}, key=len, reverse=True):
        text = re.sub(re.escape(value), lambda match: mask_id(match.group()), text, flags=re.IGNORECASE)
    for name in sorted({name for name in names if name and name in text}, key=len, reverse=True):
        text = text.replace(name, mask_name(name))
    return text


def _masked(text: str, needles: Needles) -> str:
    """`mask(text, needles.names, needles.ids)`, the names and IDs first narrowed to those in `text` the way
    `_find_all` finds them (through the text's runs, not by trying each of thousands): the same text, and the
    archive's scan, thousands of snippets, in a fraction of a second instead of seconds."""
    upper = text.upper()
    ids = {value for value, _ in _ids_in(upper, needles)} | {value for value in needles.short_ids if value in upper}
    return mask(text, _names_in(text, needles), ids)


def _snippet(text: str, start: int, end: int, needles: Needles) -> str:
    """`text[start:end]` with some context, on one line, masked (an ID cut by the context's edge as well)."""
    low = max(0, start - _CONTEXT - _MARGIN)
    masked = _masked(text[low : end + _CONTEXT + _MARGIN], needles)
    inner = masked[max(0, start - _CONTEXT) - low : min(len(text), end + _CONTEXT) - low]
    inner = _ESCAPE_RE.sub("%*", inner)  # an escaped name in the context (JSON, HTML, a URL) is not printed either
    return ("…" if start > _CONTEXT else "") + " ".join(inner.split()) + ("…" if end + _CONTEXT < len(text) else "")


# --- what the raw folder holds --------------------------------------------------------------------------------


def _normalised(value: object) -> str:
    return "".join(str(value).split())


COVER_SHEET, CONTACT_LABEL = "封面", "填报人"


def _rows(path: Path, sheet: str) -> list[list[str | None]]:
    import fastexcel

    frame = fastexcel.read_excel(path).load_sheet(sheet, header_row=None, dtypes="string").to_polars()
    return [list(row) for row in frame.iter_rows()]


def _beneficiary_sheet(path: Path) -> str | None:
    import fastexcel

    return next(
        (name for name in fastexcel.read_excel(path).sheet_names if _normalised(name) == BENEFICIARY_SHEET), None
    )


def _cover_contacts(path: Path) -> set[str]:
    """The 填报人 of the workbook's cover (封面), if it has one."""
    import fastexcel

    if COVER_SHEET not in fastexcel.read_excel(path).sheet_names:
        return set()
    return {
        row[1].strip()
        for row in _rows(path, COVER_SHEET)
        if len(row) > 1 and _normalised(row[0] or "") == CONTACT_LABEL and row[1] and "*" not in row[1]
    }


def _header_row(rows: list[list[str | None]]) -> tuple[int, list[int], list[int]] | None:
    """(row, name columns, ID columns) of the first of the first rows with a 姓名 or 身份证号 cell."""
    for at, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        headers = [_normalised(cell) if cell is not None else "" for cell in row]
        name_cols = [col for col, header in enumerate(headers) if header in NAME_HEADERS]
        id_cols = [col for col, header in enumerate(headers) if header in ID_HEADERS]
        if name_cols or id_cols:
            return at, name_cols, id_cols
    return None


def personal_data(raw_dir: Path) -> tuple[set[str], set[str]]:
    """(names, ids) of every beneficiary sheet of every workbook under `raw_dir` (any depth), and the clerk's name
    on each cover (填报人), kept only masked too.

    The header row is found in the first rows (cells 姓名 and 身份证号, whitespace aside); below it every
    non-blank name (stripped; one already masked with `*` is none) and every ID (stripped, spaces out,
    half-width, upper-case; a cell that is no 15- or 18-character ID number, like 无, is none).
    """
    names: set[str] = set()
    ids: set[str] = set()
    for path in sorted(Path(raw_dir).rglob("*")):
        if path.suffix.lower() not in WORKBOOK_SUFFIXES or path.name.startswith("~$") or not path.is_file():
            continue
        names |= _cover_contacts(path)
        sheet = _beneficiary_sheet(path)
        if sheet is None:
            continue
        rows = _rows(path, sheet)
        header = _header_row(rows)
        if header is None:
            continue
        at, name_cols, id_cols = header
        for row in rows[at + 1 :]:
            for col in name_cols:
                name = (row[col] or "").strip()
                if name and "*" not in name and name not in NAME_HEADERS:
                    names.add(name)
            for col in id_cols:
                value = _normalised(row[col] or "").translate(_TO_HALF_WIDTH).upper()
                if _ID_VALUE_RE.fullmatch(value):
                    ids.add(value)
    return names, ids


# --- scanning text --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Needles:
    """What to look for, prepared: names (those of only non-ASCII characters looked up among the substrings of
    the text's runs of such characters, the others by `in`) and IDs (upper-case, looked up in the text's runs of
    digits and X, which must hold any of them)."""

    names: tuple[str, ...]
    ids: frozenset[str]
    wide_names: frozenset[str]  # no ASCII character in them (every Chinese name)
    other_names: tuple[str, ...]
    name_lengths: tuple[int, ...]
    id_lengths: tuple[int, ...]
    short_ids: frozenset[str]  # shorter than an ID run (_ID_RUN_RE): looked up by `in`

    @classmethod
    def of(cls, names: Iterable[str], ids: Iterable[str]) -> Needles:
        names = tuple(sorted({name for name in names if len(name) >= MIN_NAME_LENGTH}))
        ids = frozenset(value.upper() for value in ids if value)
        wide = frozenset(name for name in names if all(ord(ch) > 0x7F for ch in name))
        return cls(
            names=names,
            ids=ids,
            wide_names=wide,
            other_names=tuple(name for name in names if name not in wide),
            name_lengths=tuple(sorted({len(name) for name in wide})),
            id_lengths=tuple(sorted({len(value) for value in ids})),
            short_ids=frozenset(value for value in ids if len(value) < ID_RUN_MIN),
        )


def _names_in(text: str, needles: Needles) -> list[str]:
    """The names that occur in `text`."""
    found: list[str] = []
    if needles.wide_names:
        substrings: set[str] = set()
        for run in _WIDE_RUN_RE.findall(text):
            for length in needles.name_lengths:
                substrings.update(run[at : at + length] for at in range(len(run) - length + 1))
        found += sorted(needles.wide_names & substrings)
    return found + [name for name in needles.other_names if name in text]


def _ids_in(upper_text: str, needles: Needles) -> list[tuple[str, int]]:
    """(ID, position) of the first occurrence of each known ID in a text with its x upper-cased."""
    found: dict[str, int] = {}
    if needles.ids:
        for run in _ID_RUN_RE.finditer(upper_text):
            digits = run.group()
            for length in needles.id_lengths:
                for at in range(len(digits) - length + 1):
                    if digits[at : at + length] in needles.ids:
                        found.setdefault(digits[at : at + length], run.start() + at)
    return list(found.items())


def _find_all(text: str, needles: Needles) -> Iterator[tuple[str, tuple[str, str], int, int]]:
    """(what, key, start, end) of the first occurrence of each distinct ID shape, known ID and name in `text`."""
    shapes: set[str] = set()
    for match in ID_RE.finditer(text):
        value = match.group().upper()
        if value not in shapes:
            shapes.add(value)
            yield ("id (known)" if value in needles.ids else "id (shape)"), ("id", value), match.start(), match.end()
    for value, at in _ids_in(text.replace("x", "X"), needles):  # (upper() may change the length)
        if value not in shapes:
            yield "id (known)", ("id", value), at, at + len(value)
    for name in _names_in(text, needles):
        at = text.find(name)
        yield "name", ("name", name), at, at + len(name)


def _decoded(text: str) -> str:
    """What a reader of `text` sees: rich-text runs of a shared string joined, HTML/XML entities, `\\uXXXX`
    escapes (JSON written with ensure_ascii, as Great Expectations writes its results) and %-escapes decoded."""
    if "<si>" in text:
        text = _SHARED_STRING_RE.sub(lambda match: "".join(_TEXT_RUN_RE.findall(match.group(1))), text)
    if "&" in text:
        text = html.unescape(text)
    if "\\u" in text:
        text = _U_ESCAPE_RE.sub(lambda match: chr(int(match.group(1), 16)), text)
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")  # pairs joined, lone ones out
    if "%" in text:
        text = urllib.parse.unquote(text)
    return text


def _leaks(where: str, text: str, needles: Needles) -> list[str]:
    """The leaks in `text`, as decoded (`_decoded`) and as it is, each distinct ID or name once."""
    leaks: list[str] = []
    seen: set[tuple[str, str]] = set()
    decoded = _decoded(text)
    for view in (decoded, text) if decoded != text else (text,):
        view = view.translate(_TO_HALF_WIDTH)
        for what, key, start, end in _find_all(view, needles):
            if key not in seen:
                seen.add(key)
                leaks.append(f"{_masked(where, needles)}: {what} {_snippet(view, start, end, needles)}")
    return leaks


def scan_text(where: str, text: str, names: Iterable[str] = (), ids: Iterable[str] = ()) -> list[str]:
    """The leaks in one text (a captured console, say), each `where: what …masked context…`."""
    return _leaks(where, text, Needles.of(names, ids))


def _byte_leaks(where: str, data: bytes, needles: Needles, shape: bool = True) -> list[str]:
    """Raw bytes: the ID shape (unless `shape` is False) and each known ID (ASCII), each name (UTF-8)."""
    found: list[tuple[str, int, int]] = []
    shapes: set[bytes] = set()
    known = {value.encode("ascii", "ignore") for value in needles.ids}
    for match in ID_BYTES_RE.finditer(data) if shape else ():
        value = match.group().upper()
        if value not in shapes:
            shapes.add(value)
            found.append(("id (known)" if value in known else "id (shape)", match.start(), match.end()))
    for value, at in _ids_in(data.upper().decode("latin-1"), needles):  # one character a byte: same positions
        if value.encode("ascii") not in shapes:
            found.append(("id (known)", at, at + len(value)))
    # every valid UTF-8 sequence survives decoding with errors ignored (a broken one never swallows a lead byte),
    # so a name's bytes in `data` are the name in the decoded text
    for name in _names_in(data.decode("utf-8", "ignore"), needles):
        needle = name.encode("utf-8")
        at = data.find(needle)
        found.append(("name", at, at + len(needle)))
    leaks = []
    for what, start, end in found:
        before = data[max(0, start - _CONTEXT - _MARGIN) : start].decode("utf-8", "ignore")
        hit = data[start:end].decode("utf-8", "ignore")
        after = data[end : end + _CONTEXT + _MARGIN].decode("utf-8", "ignore")
        text = "".join(ch if ch.isprintable() else " " for ch in before + hit + after)
        snippet = _snippet(text, len(before), len(before) + len(hit), needles)
        leaks.append(f"{_masked(where, needles)}: {what} {snippet}")
    return leaks


# --- the warehouse --------------------------------------------------------------------------------------------


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _scan_relation(con: duckdb.DuckDBPyConnection, relation: str, label: str, needles: Needles) -> list[str]:
    """Every cell of one relation (SQL text) cast to text: SQL picks the distinct values that can hold an ID or a
    name (a run of 15 digits, a character beyond ASCII, an escape; any value at all for a name in ASCII), Python
    says what each leaks; a leak is reported at the first row that holds the value."""
    try:
        columns = [column[0] for column in con.execute(f"select * from {relation} limit 0").description]
    except duckdb.Error as error:
        return [f"{label}: not scanned ({type(error).__name__}: {str(error).splitlines()[0]})"]
    if not columns:
        return []
    casts = ", ".join(f"cast({_quote(column)} as varchar) as {_quote(column)}" for column in columns)
    candidates = "true" if needles.other_names else f"regexp_matches(v, {_sql_literal(_CANDIDATE_SQL_PATTERN)})"
    sql = f"""
        with cells as (
            select __pii_row, __pii_column, translate(__pii_value, '{_FULL_WIDTH}', '{_HALF_WIDTH}') as v
            from (select row_number() over () as __pii_row, {casts} from {relation})
            unpivot (__pii_value for __pii_column in ({", ".join(_quote(column) for column in columns)}))
        )
        select __pii_column, v, min(__pii_row) as first_row, count(*) as rows
        from cells where {candidates}
        group by __pii_column, v
        order by first_row, __pii_column
    """
    leaks: list[str] = []
    for column, value, row, rows in con.execute(sql).fetchall():
        more = f" (and {rows - 1} more rows)" if rows > 1 else ""
        leaks += _leaks(f"{label}.{column} row {row}{more}", value, needles)
    return leaks


def _scan_duckdb(path: Path, needles: Needles, label: str = "") -> list[str]:
    prefix = f"{label}:" if label else ""
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"attach {_sql_literal(str(path))} as __pii_db (read_only)")
        relations = con.execute(
            """
            select schema_name, table_name from duckdb_tables() where database_name = '__pii_db'
            union all
            select schema_name, view_name from duckdb_views() where database_name = '__pii_db' and not internal
            order by all
            """
        ).fetchall()
        leaks: list[str] = []
        for schema, name in relations:
            relation = f"__pii_db.{_quote(schema)}.{_quote(name)}"
            leaks += _scan_relation(con, relation, f"{prefix}{schema}.{name}", needles)
        return leaks
    finally:
        con.close()


def scan_warehouse(duckdb_path: Path, names: Iterable[str] = (), ids: Iterable[str] = ()) -> list[str]:
    """Every table and view of every schema of the DuckDB file (opened read-only), every column cast to text;
    each leak `schema.table.column row N: what …context…`."""
    return _scan_duckdb(Path(duckdb_path), Needles.of(names, ids))


def relations_scanned(duckdb_path: Path) -> int:
    """How many tables and views `scan_warehouse` reads in the file (to tell a clean scan from an empty one)."""
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        [(tables,)] = con.execute("select count(*) from duckdb_tables()").fetchall()
        [(views,)] = con.execute("select count(*) from duckdb_views() where not internal").fetchall()
    return tables + views


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- files ----------------------------------------------------------------------------------------------------


def _files(folder: Path, skip: Collection[str]) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        if Path(root) == folder:
            dirs[:] = [name for name in dirs if name not in skip]
        dirs.sort()
        for name in sorted(files):
            yield Path(root) / name


def _sqlite(path: Path) -> sqlite3.Connection:
    """Read-only, with its WAL when it can (that needs the -shm file); else the main file alone, as it is."""
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        con.execute("select count(*) from sqlite_master").fetchall()
        return con
    except sqlite3.Error:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)


def _scan_sqlite(where: str, path: Path, needles: Needles) -> list[str]:
    """Every text and blob of every table of an SQLite file (Prefect's `prefect.db`), row by row."""
    leaks: list[str] = []
    con = _sqlite(path)
    try:
        tables = [row[0] for row in con.execute("select name from sqlite_master where type = 'table'")]
        for table in tables:
            try:
                cursor = con.execute(f"select * from {_quote(table)}")
                columns = [column[0] for column in cursor.description]
                for number, row in enumerate(cursor, start=1):
                    for column, value in zip(columns, row):
                        if isinstance(value, str | bytes):
                            text = value.decode("utf-8", "ignore") if isinstance(value, bytes) else value
                            leaks += _leaks(f"{where}:{table}.{column} row {number}", text, needles)
            except sqlite3.Error as error:
                leaks.append(f"{where}:{table}: not scanned ({error})")
    finally:
        con.close()
    return leaks


def _scan_parquet(where: str, path: Path, needles: Needles) -> list[str]:
    con = duckdb.connect(":memory:")
    try:
        return _scan_relation(con, f"read_parquet({_sql_literal(str(path))})", where, needles)
    finally:
        con.close()


def _scan_bytes(where: str, data: bytes, needles: Needles, depth: int = 0) -> list[str]:
    """Bytes that are not a file on disk (a zip member): text, or a zip or gzip again, or raw bytes."""
    if depth < 3 and data.startswith(ZIP_MAGIC):
        return _scan_zip(where, io.BytesIO(data), needles, depth + 1)
    if depth < 3 and data.startswith(GZIP_MAGIC):
        try:
            return _scan_bytes(where, gzip.decompress(data), needles, depth + 1)
        except (OSError, EOFError):
            pass
    if b"\x00" in data[:8192]:
        return _byte_leaks(where, data, needles)
    return _leaks(where, data.decode("utf-8", "ignore"), needles)


def _scan_zip(where: str, source, needles: Needles, depth: int = 1) -> list[str]:
    leaks: list[str] = []
    try:
        with zipfile.ZipFile(source) as archive:
            for member in archive.infolist():
                if not member.is_dir():
                    leaks += _scan_bytes(f"{where}!{member.filename}", archive.read(member), needles, depth)
    except zipfile.BadZipFile:
        data = source.getvalue() if isinstance(source, io.BytesIO) else Path(source).read_bytes()
        leaks += _byte_leaks(where, data, needles)
    return leaks


def scan_files(
    folder: Path, names: Iterable[str] = (), ids: Iterable[str] = (), skip: Collection[str] = ("archive",)
) -> list[str]:
    """Every file under `folder` except in its top-level subfolders named in `skip`; each leak `path: what …`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder to scan: {folder}")
    needles = Needles.of(names, ids)
    leaks: list[str] = []
    for path in _files(folder, skip):
        where = path.relative_to(folder).as_posix()
        leaks += _leaks(f"{where} (file name)", where, needles)
        data = path.read_bytes()
        if data.startswith(ZIP_MAGIC):
            leaks += _scan_zip(where, path, needles)
        elif data.startswith(SQLITE_MAGIC):
            leaks += _scan_sqlite(where, path, needles) + _byte_leaks(where + " (bytes)", data, needles)
        elif data[8:12] == DUCKDB_MAGIC:
            # DuckDB keeps a column's short strings side by side, with nothing between them: six counts ('226',
            # '129', '193', '104', '200', '276') read as one ID-shaped run. Its values are checked for the shape one
            # by one (_scan_duckdb); its bytes, where freed blocks keep deleted rows, for the known IDs and names
            leaks += _scan_duckdb(path, needles, label=where) + _byte_leaks(
                where + " (bytes)", data, needles, shape=False
            )
        elif data.startswith(PARQUET_MAGIC) and data.endswith(PARQUET_MAGIC):
            leaks += _scan_parquet(where, path, needles)
        else:
            leaks += _scan_bytes(where, data, needles)
    return leaks


def files_scanned(folder: Path, skip: Collection[str] = ("archive",)) -> list[Path]:
    """The files `scan_files` reads under `folder`."""
    return list(_files(Path(folder), skip))


# --- Prefect --------------------------------------------------------------------------------------------------


def _json(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _pages(read, **kwargs) -> Iterator:
    limit, offset = 200, 0
    while True:
        page = read(limit=limit, offset=offset, **kwargs)
        yield from page
        if len(page) < limit:
            return
        offset += limit


def prefect_texts(flow_run_ids: Iterable | None = None) -> Iterator[tuple[str, str]]:
    """(where, text) of everything the current Prefect API keeps: artifacts (key, description, data), logs, flow
    runs (name, parameters, tags, state message) and task runs (name, tags, state message); of the given flow runs
    only, when given."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas import filters, sorting
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=30)  # logs go to the API in batches, from a worker: send what is queued first
    ids = None if flow_run_ids is None else [str(value) for value in flow_run_ids]
    by_run = {} if ids is None else {"flow_run_filter": filters.FlowRunFilter(id=filters.FlowRunFilterId(any_=ids))}
    with get_client(sync_client=True) as client:
        artifact_filter = None if ids is None else filters.ArtifactFilter(flow_run_id={"any_": ids})
        for artifact in _pages(
            client.read_artifacts, artifact_filter=artifact_filter, sort=sorting.ArtifactSort.ID_DESC
        ):
            where = f"artifact {artifact.key or artifact.id}"
            yield where + " key", artifact.key or ""
            yield where + " description", artifact.description or ""
            yield where + " data", _json(artifact.data)
        log_filter = None if ids is None else filters.LogFilter(flow_run_id={"any_": ids})
        for log in _pages(client.read_logs, log_filter=log_filter, sort=sorting.LogSort.TIMESTAMP_ASC):
            yield f"log {log.name} {log.timestamp:%H:%M:%S.%f}", log.message
        for run in _pages(client.read_flow_runs, sort=sorting.FlowRunSort.ID_DESC, **by_run):
            where = f"flow run {run.name}"
            yield where + " name", run.name
            yield where + " parameters", _json(run.parameters)
            yield where + " tags", _json(run.tags)
            if run.state is not None:
                yield where + " state", f"{run.state.name} {run.state.message or ''}"
        for task in _pages(client.read_task_runs, sort=sorting.TaskRunSort.ID_DESC, **by_run):
            where = f"task run {task.name}"
            yield where + " name", task.name
            yield where + " tags", _json(task.tags)
            if task.state is not None:
                yield where + " state", f"{task.state.name} {task.state.message or ''}"


def scan_prefect(names: Iterable[str] = (), ids: Iterable[str] = (), flow_run_ids: Iterable | None = None) -> list[str]:
    """Artifacts, logs, flow runs and task runs of the current Prefect API (of `flow_run_ids`, when given)."""
    needles = Needles.of(names, ids)
    leaks: list[str] = []
    for where, text in prefect_texts(flow_run_ids):
        leaks += _leaks(where, text, needles)
    return leaks
