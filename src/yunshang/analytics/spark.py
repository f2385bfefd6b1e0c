"""Spark scale-out engine: the same metric SQL, run by Apache Spark over the Parquet lake.

:class:`SparkEngine` has the warehouse's ``query(sql) -> list[dict]``, so
``Metric.run(engine, params)`` runs unchanged on either engine
(``YUNSHANG_ANALYTICS_ENGINE=spark``, see :attr:`yunshang.platform.Platform.analytics`).

Reading the lake. Ingestion still goes through DuckDB, which writes
``<lake>/name=<event>/day=<YYYY-MM-DD>/part-*.parquet``. Spark reads those files with an
explicit schema (``name`` and ``day`` are partition columns, ``day`` a DATE equal to the
warehouse's ``day``) as the temp view ``events`` and, over it, one
``ev_<context>_<event>`` view per :data:`~yunshang.analytics.schemas.SCHEMAS` entry with
DuckDB's columns and types (fields extracted from the payload JSON with DuckDB's
``TRY_CAST`` semantics; JSON fields stay JSON text). Views exist, empty, for names the
lake has no file of and for an empty lake. They are cached once per lake state, as
DuckDB types its tables once at ingestion: before every query the lake's file list is
compared with the one they were built on, and any change (a new batch, a rewritten
file) rebuilds them, so newly ingested events are seen.

Translating the SQL. Metric SQL is DuckDB's dialect. :func:`to_spark_sql` parses it with
sqlglot (``read="duckdb"``), qualifies it against the views' schema and annotates every
expression with its *DuckDB* type, then rewrites the constructs where sqlglot's
``write="spark"`` output would differ from DuckDB in value or type. Each fix-up is a
function below with the DuckDB behaviour it reproduces; :data:`FIXUPS` lists them.
Known differences that remain: division by zero is NULL (DuckDB: ±inf/NaN, which the
JSON API renders as null anyway); a JSON value that is a string (not an array or object)
reads unquoted; ``generate_series`` of DATEs yields DATEs (DuckDB: TIMESTAMPs); the
names of unaliased computed columns differ (alias every computed column).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from .ingest import lake_glob
from .rollups import ACTIVITY_EVENTS, ROLLUPS
from .schemas import ENVELOPE, SCHEMAS, view_name

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

T = exp.DType

#: the lake's Parquet columns (Spark DDL); ``name`` and ``day`` come from the folders
_LAKE_SCHEMA = ("id STRING, name STRING, version INT, tenant STRING, "
                "occurred_at TIMESTAMP_LTZ, payload STRING, txid BIGINT, seq BIGINT, day DATE")

_FLOATS = {T.DOUBLE, T.FLOAT}
_INTEGERS = {T.TINYINT, T.SMALLINT, T.INT, T.BIGINT, T.INT128, T.UTINYINT, T.USMALLINT,
             T.UINT, T.UBIGINT, T.UINT128}
#: DuckDB integer types Spark lacks; their values fit a BIGINT in practice (counts, sums)
_WIDE_INTEGERS = {T.INT128, T.UBIGINT, T.UINT128, T.INT256, T.UINT256}


def _schema() -> dict[str, object]:
    return {**{view_name(name): dict(ENVELOPE + fields) for name, fields in SCHEMAS.items()},
            **{name: dict(cols) for name, cols in ROLLUPS.items()}}


def device_days_sql() -> str:
    """Spark's ``device_days``: what :mod:`.rollups` keeps in DuckDB at ingestion,
    computed from the typed views (latest version by (time, version), as ``arg_max``)."""
    union = " UNION ALL ".join(
        f"SELECT tenant, device_id, day, occurred_at, os_version FROM {view_name(n)}"  # noqa: S608
        for n in ACTIVITY_EVENTS)
    return ("SELECT tenant, device_id, day,"  # noqa: S608 - our own view names
            " max(occurred_at) FILTER (WHERE os_version IS NOT NULL) AS version_at,"
            " max_by(os_version, struct(occurred_at, os_version))"
            " FILTER (WHERE os_version IS NOT NULL) AS os_version"
            f" FROM ({union}) t WHERE device_id IS NOT NULL GROUP BY tenant, device_id, day")


# --- the typed views --------------------------------------------------------------------

def _field_sql(field: str, kind: str) -> str:
    """Spark extraction of one payload field, as ``schemas.fill_sql`` types it in DuckDB."""
    raw = f"get_json_object(payload, '$.{field}')"
    if kind in ("JSON", "VARCHAR"):
        # arrays/objects come back as compact JSON text, as DuckDB's ``->`` renders them
        return f"{raw} AS {field}"
    if kind == "BIGINT":
        return f"{_string_to_integer_sql(raw)} AS {field}"
    spark_kind = {"TIMESTAMPTZ": "TIMESTAMP_LTZ", "BOOLEAN": "BOOLEAN",
                  "DOUBLE": "DOUBLE"}.get(kind, kind)
    return f"try_cast({raw} AS {spark_kind}) AS {field}"


def _string_to_integer_sql(text: str) -> str:
    # DuckDB's TRY_CAST(VARCHAR AS BIGINT) accepts '5.5' and rounds half away from zero
    # (Spark's try_cast returns NULL): go through a DECIMAL and ROUND (HALF_UP).
    return (f"coalesce(try_cast({text} AS BIGINT), "
            f"try_cast(round(try_cast({text} AS DECIMAL(38, 18)), 0) AS BIGINT))")


def view_sql(event_name: str) -> str:
    """The Spark ``SELECT`` of one event name's typed relation, over ``events``."""
    cols = ",\n  ".join(_field_sql(f, k) for f, k in SCHEMAS[event_name])
    return (f"SELECT id, version, tenant, occurred_at, day,\n  {cols}\n"
            f"FROM events WHERE name = '{event_name}'")


# --- DuckDB → Spark SQL -----------------------------------------------------------------

def _type(node: exp.Expr | None) -> exp.DType | None:
    kind = node.type if node is not None else None
    return kind.this if isinstance(kind, exp.DataType) and kind.this != T.UNKNOWN else None


def _numeric_kind(node: exp.Expr | None) -> str | None:
    """``float``, ``decimal`` or ``int`` as DuckDB types ``node``. sqlglot's annotation
    is trusted except for arithmetic on decimal literals (``2.5`` is a DECIMAL in
    DuckDB, so ``quantity * 2.5`` is too; sqlglot says DOUBLE)."""
    if node is None:
        return None
    if isinstance(node, exp.Literal) and not node.is_string:
        text = node.name.lower()
        return "float" if "e" in text else "decimal" if "." in text else "int"
    if isinstance(node, exp.Paren | exp.Neg):
        return _numeric_kind(node.this)
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Mod):
        kinds = {_numeric_kind(node.this), _numeric_kind(node.expression)}
        for kind in ("float", None, "decimal"):
            if kind in kinds:
                return kind
        return "int"
    annotated = _type(node)
    if annotated in _FLOATS:
        return "float"
    if annotated == T.DECIMAL:
        return "decimal"
    return "int" if annotated in _INTEGERS else None


def _is_float(node: exp.Expr | None) -> bool:
    return _numeric_kind(node) == "float"


def _fn(name: str, *args: exp.Expr) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _double(value: float) -> exp.Expr:
    return exp.cast(exp.Literal.number(repr(value)), T.DOUBLE)


def _epoch(node: exp.Expr) -> exp.Expr | None:
    """``epoch(ts)`` → ``unix_micros(ts) / 1e6``: DuckDB keeps the microseconds, sqlglot's
    ``unix_timestamp`` truncates to whole seconds."""
    if not isinstance(node, exp.TimeToUnix):
        return None
    return exp.Div(this=_fn("unix_micros", node.this), expression=_double(1e6))


def _epoch_scaled(node: exp.Expr) -> exp.Expr | None:
    """``epoch_ms(ts)``/``epoch_us(ts)`` of a timestamp are integers, milliseconds
    rounded (sqlglot reads ``epoch_ms`` as the inverse, ms → timestamp);
    ``to_timestamp(seconds)`` keeps
    microseconds (sqlglot goes through ``from_unixtime``, whole seconds)."""
    if isinstance(node, exp.UnixToTime):
        scale = node.args.get("scale")
        if _type(node.this) in {T.TIMESTAMP, T.TIMESTAMPTZ, T.DATE}:
            micros = _fn("unix_micros", node.this)
            if scale is None or scale.name != "3":
                return micros
            # DuckDB rounds to the nearest millisecond (half away from zero)
            millis = exp.Round(this=exp.Div(this=micros, expression=_double(1e3)))
            return exp.cast(millis, T.BIGINT)
        if scale is None or scale.name in ("", "0"):
            scaled = exp.Round(this=exp.Mul(this=exp.paren(node.this), expression=_double(1e6)))
            return _fn("timestamp_micros", exp.cast(scaled, T.BIGINT))
        return None
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("epoch_us", "epoch_ns"):
        micros = _fn("unix_micros", *node.expressions)
        if node.name.lower() == "epoch_ns":
            return exp.Mul(this=micros, expression=exp.Literal.number(1000))
        return micros
    return None


def _division(node: exp.Expr) -> exp.Expr | None:
    """``a / b`` is a DOUBLE in DuckDB for every numeric type; Spark divides DECIMALs
    exactly (a Decimal result): cast the dividend to DOUBLE."""
    if not isinstance(node, exp.Div) or node.args.get("typed"):
        return None
    if T.INTERVAL in (_type(node.this), _type(node.expression)):
        return None
    if _type(node) not in (*_FLOATS, None):
        return None
    return exp.Div(this=exp.cast(node.this, T.DOUBLE), expression=node.expression)


def _round(node: exp.Expr) -> exp.Expr | None:
    """DuckDB's ``round(double, n)`` is ``std::round(x * 10^n) / 10^n``; Spark rounds the
    decimal rendering of x, which differs on values just below a tie. Spelled DuckDB's
    way (``round`` of an integral-ish double with no digits agrees in both)."""
    if not isinstance(node, exp.Round) or not _is_float(node.this):
        return None
    digits = node.args.get("decimals")
    if digits is None:
        return None
    try:
        n = int(digits.to_py())
    except (ValueError, TypeError, AttributeError):
        return None  # not a constant
    scale = _double(math.pow(10, abs(n)))
    if n >= 0:
        return exp.Div(this=exp.Round(this=exp.Mul(this=exp.paren(node.this), expression=scale)),
                       expression=scale)
    return exp.Mul(this=exp.Round(this=exp.Div(this=exp.paren(node.this), expression=scale)),
                   expression=scale.copy())


def _integer_cast(node: exp.Expr) -> exp.Expr | None:
    """Casting to an integer rounds in DuckDB (DOUBLE: half to even, DECIMAL and VARCHAR:
    half away from zero); Spark truncates. Integer types Spark lacks become BIGINT."""
    if not isinstance(node, exp.Cast | exp.TryCast) or node.to.this not in _INTEGERS:
        return None
    numeric = _numeric_kind(node.this)
    to = exp.DataType.build("BIGINT") if node.to.this in _WIDE_INTEGERS else node.to
    value: exp.Expr = node.this
    if numeric == "float":
        value = _fn("bround", value, exp.Literal.number(0))
    elif numeric == "decimal":
        value = exp.Round(this=value, decimals=exp.Literal.number(0))
    elif _type(node.this) in (T.VARCHAR, T.TEXT):
        return sqlglot.parse_one(
            f"CAST({_string_to_integer_sql(value.sql('spark'))} AS {to.sql('spark')})",
            read="spark")
    elif to is node.to:
        return None
    return exp.TryCast(this=value, to=to) if isinstance(node, exp.TryCast) else exp.cast(value, to)


def _floor_ceil(node: exp.Expr) -> exp.Expr | None:
    """``floor``/``ceil`` of a DOUBLE stay DOUBLE in DuckDB; Spark returns a BIGINT."""
    if isinstance(node, exp.Floor | exp.Ceil) and _is_float(node.this) \
            and node.args.get("decimals") is None:
        return exp.cast(node.copy(), T.DOUBLE)
    return None


def _naive_timestamp(node: exp.Expr) -> exp.Expr | None:
    """Where DuckDB computes a naive TIMESTAMP (``date_trunc`` of a DATE, DATE ± INTERVAL,
    ``epoch_ms(int)``), Spark yields a DATE or a zoned timestamp: make it TIMESTAMP_NTZ
    (DuckDB hands both engines' results back as naive datetimes)."""
    if _type(node) != T.TIMESTAMP or isinstance(
            node, exp.Column | exp.Cast | exp.TryCast | exp.Alias | exp.Paren | exp.Literal
            | exp.Max | exp.Min | exp.AnyValue):
        return None
    return exp.Cast(this=node.copy(), to=exp.DataType.build("TIMESTAMP_NTZ", dialect="spark"))


def _date_minus_date(node: exp.Expr) -> exp.Expr | None:
    """DATE - DATE is a number of days in DuckDB, an INTERVAL in Spark."""
    if isinstance(node, exp.Sub) and _type(node.this) == T.DATE \
            and _type(node.expression) == T.DATE:
        return _fn("datediff", node.this, node.expression)
    return None


def _day_of_week(node: exp.Expr) -> exp.Expr | None:
    """DuckDB's ``dow`` counts Sunday = 0 (Spark: 1) and ``isodow`` Monday = 1 (sqlglot's
    rendering of it is off by one); ``week``/``yearweek`` have no Spark function."""
    part = None
    if isinstance(node, exp.Extract):
        part, arg = node.this.name.lower(), node.expression
    elif isinstance(node, exp.DayOfWeek):
        part, arg = "dow", node.this
    elif isinstance(node, exp.DayOfWeekIso):
        part, arg = "isodow", node.this
    elif isinstance(node, exp.WeekOfYear | exp.Week):
        part, arg = "week", node.this
    elif isinstance(node, exp.YearOfWeek | exp.Anonymous) and node.name.lower() == "yearweek":
        part, arg = "yearweek", node.expressions[0]
    elif isinstance(node, exp.Anonymous) and node.name.lower() == "date_part" \
            and node.expressions and node.expressions[0].is_string:
        part, arg = node.expressions[0].name.lower(), node.expressions[1]
    if part in ("dow", "dayofweek", "weekday"):
        return exp.Sub(this=_fn("dayofweek", arg), expression=exp.Literal.number(1))
    if part == "isodow":
        return exp.Add(this=_fn("weekday", arg), expression=exp.Literal.number(1))
    if part in ("week", "weekofyear"):
        return _fn("weekofyear", arg)
    if part == "yearweek":
        return sqlglot.parse_one(f"EXTRACT(YEAROFWEEK FROM {arg.sql('spark')}) * 100 + "
                                 f"weekofyear({arg.sql('spark')})", read="spark")
    return None


_DIFF_UNITS = {"microsecond", "millisecond", "second", "minute", "hour", "day", "month",
               "quarter", "year"}


def _date_diff(node: exp.Expr) -> exp.Expr | None:
    """DuckDB's ``date_diff(part, a, b)`` counts ``part`` boundaries crossed (``week``:
    whole 7-day spans), Spark's ``datediff(part, …)`` whole parts elapsed: truncate both
    ends first. DuckDB's ``date_sub(part, a, b)`` is Spark's elapsed count."""
    if isinstance(node, exp.DateDiff | exp.TimestampDiff | exp.DatetimeDiff):
        unit = (node.unit.name if node.unit is not None else "day").lower()
        start, end = node.expression, node.this
        if unit == "week":
            return exp.IntDiv(this=_fn("datediff", _fn("to_date", end), _fn("to_date", start)),
                              expression=exp.Literal.number(7))
        if unit not in _DIFF_UNITS:
            return None
        trunc = {"microsecond": None, "millisecond": None}.get(unit, unit)

        def at(x: exp.Expr) -> exp.Expr:
            return _fn("date_trunc", exp.Literal.string(trunc), x) if trunc else x

        return _fn("timestampdiff", exp.var(unit.upper()), at(start), at(end))
    if isinstance(node, exp.DateSub | exp.Anonymous) and node.name.lower() == "date_sub" \
            and isinstance(node, exp.Anonymous) and len(node.expressions) == 3 \
            and node.expressions[0].is_string:
        part, start, end = node.expressions
        return _fn("timestampdiff", exp.var(part.name.upper()), start, end)
    return None


def _log(node: exp.Expr) -> exp.Expr | None:
    """DuckDB's one-argument ``log`` is base 10 (Spark's: natural)."""
    if isinstance(node, exp.Log) and node.args.get("expression") is None:
        return _fn("log10", node.this)
    return None


def _quantile(node: exp.Expr) -> exp.Expr | None:
    """``quantile_cont(x, p)`` interpolates: Spark's ``percentile(x, p)``."""
    if isinstance(node, exp.PercentileCont) and node.args.get("expression") is not None:
        return _fn("percentile", node.this, node.expression)
    return None


def _json_cast(node: exp.Expr) -> exp.Expr | None:
    """JSON is text on Spark: ``CAST(x AS JSON)`` is ``x``, and ``CAST(x AS JSON[])``
    parses the array into its elements' JSON texts (what DuckDB's ``unnest`` yields)."""
    if not isinstance(node, exp.Cast | exp.TryCast):
        return None
    if node.to.this == T.JSON:
        text: exp.Expr = node.this
        return text
    if node.to.this == T.ARRAY and node.to.expressions \
            and node.to.expressions[0].this == T.JSON:
        return _fn("from_json", node.this, exp.Literal.string("array<string>"))
    return None


def _wide_integer_type(node: exp.Expr) -> exp.Expr | None:
    if isinstance(node, exp.DataType) and node.this in _WIDE_INTEGERS \
            and not isinstance(node.parent, exp.Cast | exp.TryCast):
        return exp.DataType.build("BIGINT")
    return None


def _series(node: exp.Expr) -> exp.Expr | None:
    """``FROM generate_series(a, b[, step]) [AS t(x)]`` (end included) and ``range(…)``
    (end excluded) as a table: Spark ``explode(sequence(…))``, the column named as DuckDB
    names it. An empty series (a past b) stays empty instead of failing."""
    if not isinstance(node, exp.Table) \
            or not isinstance(node.this, exp.GenerateSeries | exp.Anonymous):
        return None
    series = node.this
    if isinstance(series, exp.Anonymous):
        if series.name.lower() not in ("generate_series", "range"):
            return None
        args = list(series.expressions)
        inclusive = series.name.lower() == "generate_series"
        column = series.name.lower()
    else:
        args = [series.args["start"], series.args["end"]]
        if series.args.get("step") is not None:
            args.append(series.args["step"])
        inclusive = not series.args.get("is_end_exclusive")
        column = "generate_series" if inclusive else "range"
    if len(args) == 1:
        args = [exp.Literal.number(0), args[0]]
    start, end = args[0], args[1]
    step = args[2] if len(args) > 2 else exp.Literal.number(1)
    seq = _fn("sequence", start.copy(), end.copy(), step.copy())
    ok = exp.GTE(this=end.copy(), expression=start.copy())
    items: exp.Expr = exp.If(this=ok, true=seq, false=_fn("array"))
    if not inclusive:
        below_end = exp.Lambda(this=exp.LT(this=exp.column("x"), expression=end.copy()),
                               expressions=[exp.to_identifier("x")])
        items = _fn("filter", items, below_end)
    alias = node.args.get("alias")
    name = alias.name if alias is not None and alias.name else "_series"
    columns = alias.columns if alias is not None and alias.columns else [exp.to_identifier(column)]
    return exp.Table(this=_fn("explode", items),
                     alias=exp.TableAlias(this=exp.to_identifier(name), columns=columns))


#: the fix-ups, applied bottom-up to every node of the annotated DuckDB tree
FIXUPS: tuple[Callable[[exp.Expr], exp.Expr | None], ...] = (
    _epoch, _epoch_scaled, _integer_cast, _division, _round, _floor_ceil, _date_minus_date,
    _day_of_week, _date_diff, _log, _quantile, _json_cast, _wide_integer_type, _series,
    _naive_timestamp)


def _fix(node: exp.Expr) -> exp.Expr:
    for fixup in FIXUPS:
        new = fixup(node)
        if new is not None:
            new.type = node.type
            return new
    return node


@lru_cache(maxsize=512)
def to_spark_sql(sql: str) -> str:
    """DuckDB-dialect metric SQL → Spark SQL with the same results (pure, cached)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    # Quoted identifiers keep their case through qualification (DuckDB names output
    # columns as written; Spark resolves backquoted names case-insensitively anyway).
    for ident in tree.find_all(exp.Identifier):
        ident.set("quoted", True)
    schema = _schema()
    # unknown tables or columns: left unqualified, and fix-ups that need a type skip them
    with contextlib.suppress(sqlglot.errors.SqlglotError):
        tree = qualify(tree, schema=schema, dialect="duckdb", quote_identifiers=False,
                       validate_qualify_columns=False)
    tree = annotate_types(tree, schema=schema, dialect="duckdb")
    for node in reversed(list(tree.walk())):
        new = _fix(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree.sql(dialect="spark")


# --- the engine --------------------------------------------------------------------------

class SparkEngine:
    """Runs metric SQL on a local (or configured) Spark over the Parquet lake."""

    def __init__(self, lake_dir: Path | str, *, master: str = "local[2]",
                 driver_memory: str = "2g", session: SparkSession | None = None) -> None:
        self.lake_dir = Path(lake_dir)
        self.master = master
        self.driver_memory = driver_memory
        self._session = session
        self._owns_session = False
        self._lock = threading.RLock()
        self._files: tuple[tuple[str, int, int], ...] | None = None
        self._typed: list[DataFrame] = []

    @property
    def session(self) -> SparkSession:
        """The Spark session, started on first use (or the process's active one)."""
        with self._lock:
            if self._session is None:
                self._session, self._owns_session = start_session(self.master,
                                                                  self.driver_memory)
            return self._session

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Runs DuckDB-dialect ``sql`` (translated) and returns rows as DuckDB would."""
        spark_sql = to_spark_sql(sql)
        with self._lock:
            self._refresh()
            table = self.session.sql(spark_sql).toArrow()
        names = table.column_names
        return [dict(zip(names, row, strict=True))
                for row in zip(*(c.to_pylist() for c in table.columns), strict=True)] \
            if names else []

    def _lake_files(self) -> tuple[tuple[str, int, int], ...]:
        found = []
        for folder, _dirs, files in os.walk(self.lake_dir):
            for name in files:
                if name.startswith("part-") and name.endswith(".parquet"):
                    st = os.stat(os.path.join(folder, name))
                    found.append((os.path.join(folder, name), st.st_size, st.st_mtime_ns))
        return tuple(sorted(found))

    def _refresh(self) -> None:
        files = self._lake_files()
        if files == self._files:
            return
        spark = self.session
        events: DataFrame
        if files:
            events = (spark.read.schema(_LAKE_SCHEMA)
                      .option("basePath", str(self.lake_dir))
                      .parquet(lake_glob(self.lake_dir)))
        else:
            events = spark.createDataFrame([], _LAKE_SCHEMA)
        events.createOrReplaceTempView("events")
        # Typed relations are cached (lazily, on first use): metrics scan them many
        # times per query and per report, and parsing JSON once per lake state is
        # what DuckDB's typed tables do at ingestion.
        for df in self._typed:
            df.unpersist()
        self._typed = []
        for name in SCHEMAS:
            df = spark.sql(view_sql(name)).persist()
            df.createOrReplaceTempView(view_name(name))
            self._typed.append(df)
        days = spark.sql(device_days_sql()).persist()
        days.createOrReplaceTempView("device_days")
        self._typed.append(days)
        self._files = files

    def close(self) -> None:
        """Stops the Spark session if this engine started it."""
        with self._lock:
            if self._session is not None and self._owns_session:
                self._session.stop()
            self._session = None
            self._owns_session = False
            self._files = None
            self._typed = []


def start_session(master: str = "local[2]",
                  driver_memory: str = "2g") -> tuple[SparkSession, bool]:
    """The process's active Spark session, or a new local one; and whether it is new.

    Small data on one machine: 4 shuffle partitions, no UI, UTC, quiet logs. ANSI mode
    is off so that a division by zero is NULL rather than an error, as close as Spark
    gets to DuckDB's IEEE result."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    # One SparkContext per process: reuse a running one (tests share theirs) and leave
    # stopping it to whoever started it. (getActiveSession is per thread; this is not.)
    if SparkContext._active_spark_context is not None:
        return SparkSession.builder.getOrCreate(), False
    # the driver's heap is fixed when its JVM starts, i.e. here (local mode: it does the work)
    session = (SparkSession.builder.master(master).appName("yunshang-analytics")
               .config("spark.driver.memory", driver_memory)
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.timestampType", "TIMESTAMP_LTZ")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.default.parallelism", "4")
               .config("spark.sql.ansi.enabled", "false")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    return session, True
