"""Billing exports read column by column (billing_columns, numpy) give what the row-by-row reader
gives. The reference for what a piece holds is Python's csv module; for what an export prices,
the row-by-row reader (`Rows.add`), which tests/test_billing.py checks against hand-worked
figures with both readers."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpucost import billing, billing_chunks, billing_columns, billing_rows
from gpucost.billing import BillingError, BillingPrices, load_billing
from gpucost.billing_columns import Table, fields, latest_day

FOCUS = Path(__file__).parent / "fixtures" / "focus"


def csv_rows(piece: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(piece.decode("utf-8"), newline="")))


def table_rows(table: Table) -> list[list[str]]:
    """Every field of every record, as billing_columns.fields reads them."""
    columns = fields(table, np.arange(table.n), list(range(table.width)))
    return [list(row) for row in zip(*columns, strict=True)]


# Each piece as billing_chunks.pieces hands them over (ending with a newline outside quotes).
READ = [
    ("plain", b"a,b,c\n1,2,3\n"),
    ("empty fields", b",,\nx,,\n"),
    ("CR LF", b"a,b,c\r\n1,2,3\r\n"),
    ("quoted comma", b'a,"b,1",c\n'),
    ("quoted newline", b'a,"b\nsecond",c\nd,e,f\n'),
    ("quoted CR LF", b'a,"b\r\nsecond",c\r\n'),
    ("doubled quotes", b'a,"say ""hi""",c\n'),
    ("only a doubled quote", b'a,"""",c\n'),
    ("empty quoted", b'a,"",c\n'),
    ("quoted first and last", b'"a",b,"c"\n'),
    ("JSON as Azure writes x_SkuDetails", b'1,"{""VMName"":""aks-1"",""n"":2}",x\n'),
    ("UTF-8", "é,ü,€\n".encode()),
    ("a lone CR inside a quoted field, CR LF ends", b'a,"b\rc",d\r\ne,f,g\r\n'),
    ("a lone CR inside a quoted field, LF ends", b'a,"b\rc",d\ne,f,g\n'),
]


@pytest.mark.parametrize(("case", "piece"), READ, ids=[c for c, _ in READ])
def test_fields_as_the_csv_module_reads_them(case: str, piece: bytes) -> None:
    table = Table.of(piece, 3)
    assert table is not None, case
    assert table_rows(table) == csv_rows(piece)


# Pieces the csv module reads in a way offsets would not (or that are not one record a line of
# three fields): left to the row-by-row reader.
LEFT = [
    ("a row with a field too many", b"a,b,c\n1,2,3,4\n"),
    ("a row short", b"a,b,c\n1,2\n"),
    ("one too many and one short", b"1,2,3,4\n1,2\n"),
    ("an empty line", b"a,b,c\n\n"),
    ("a lone CR", b"a,b,c\r1,2,3\n"),
    # The csv module ends a record at the lone CR: ['a', 'b', 'c'], then ['x'] (a row short).
    ("a lone CR in a piece with quotes", b'"a",b,c\r\n"a",b,c\rx\n'),
    ("a lone CR after a quoted field", b'a,b,"c"\rx\n'),
    ("CR LF and LF mixed", b"a,b,c\r\n1,2,3\n"),
    ("a quote inside an unquoted field", b'a,b"c,d\n'),
    ("text after a closing quote", b'a,"b"c,d\n'),
    ("a NUL", b"a,\0,c\n"),
    ("no final newline", b"a,b,c"),
]


@pytest.mark.parametrize(("case", "piece"), LEFT, ids=[c for c, _ in LEFT])
def test_odd_pieces_are_left_to_the_row_reader(case: str, piece: bytes) -> None:
    assert Table.of(piece, 3) is None, case


@pytest.mark.parametrize(("piece", "day"), [
    (b"x,2026-11-03T05:00:00Z\ny,2026-11-04T00:00:00Z\nz,2026-11-02T23:00:00Z\n", "2026-11-04"),
    (b"x,2026-11-03T05:00:00Z\r\ny,2026-11-09\r\n", "2026-11-09"),
    (b"x,2026-1\ny,2026-11-01T00:00:00Z\n", "2026-11-01"),   # a short value sorts first
    (b"x,2026-12\ny,2026-11-30T23:00:00Z\n", "2026-12"),     # as max(value[:10]) has it
    (b"x,\ny,\n", ""),
])
def test_latest_day_is_max_of_the_first_ten_characters(piece: bytes, day: str) -> None:
    table = Table.of(piece, 2)
    assert table is not None
    assert latest_day(table, 1) == day == max(row[1][:10] for row in csv_rows(piece))


def test_a_quoted_date_is_left_to_the_row_reader() -> None:
    table = Table.of(b'x,"2026-11-03T05:00:00Z"\n', 2)
    assert table is not None
    assert latest_day(table, 1) is None


@pytest.mark.parametrize("fixture", ["aws-focus-1.0.csv", "azure-focus-1.0.csv", "gcp-focus.csv"])
def test_the_providers_exports_are_read_by_columns(fixture: str) -> None:
    """The shapes AWS, Azure (quoted JSON in x_SkuDetails) and GCP export take the fast path:
    without this, the equivalence below would hold only because both paths were the same. (The
    fixtures' rows made malformed on purpose send their piece to the row reader: left out.)"""
    header, body = billing_chunks.split_header((FOCUS / fixture).read_bytes())
    body = b"".join(line for line in body.splitlines(keepends=True) if b"malformed" not in line)
    columns = billing_rows.Columns(FOCUS / fixture, header, "EffectiveCost")
    table = Table.of(body, columns.width)
    assert table is not None
    assert table_rows(table) == csv_rows(body)
    taken = billing_columns.take(table, columns.columnar(billing_columns), "", "USD", billing_rows.epoch)
    assert taken is not None and len(taken.days) > 0 and len(taken.rows) > 0


# --- the whole loader, both ways ------------------------------------------------------------

HEADER = ["BilledCost", "BillingCurrency", "ChargeCategory", "ChargeClass", "ChargeDescription",
          "ChargePeriodEnd", "ChargePeriodStart", "ConsumedQuantity", "ConsumedUnit", "EffectiveCost",
          "PricingCategory", "RegionId", "ResourceId", "ResourceName", "ServiceCategory", "x_UsageType"]

row_strategy = st.fixed_dictionaries({
    "cost": st.sampled_from(["1.5", "0.25", "98.32", "0", "-0.5", "1e1", "n/a", "", "nan", "inf", '"2.5"']),
    "currency": st.sampled_from(["USD"] * 12 + ["", "EUR"]),
    "category": st.sampled_from(["Usage"] * 6 + ["Tax", "Purchase", '"Usage"']),
    "class": st.sampled_from([""] * 6 + ["Correction"]),
    "service": st.sampled_from(["Compute"] * 6 + ["Storage", ""]),
    "day": st.integers(1, 12),
    "hour": st.integers(0, 23),
    "hours": st.sampled_from([1, 1, 1, 2, 0]),
    "qty": st.sampled_from(["1", "1", "0.5", "2", "-1", "x", ""]),
    "unit": st.sampled_from(["Hrs", "Hrs", "1 Hour", "hour", "GB-Mo", ""]),
    "pricing": st.sampled_from(["Standard", "Dynamic", "Committed", ""]),
    "region": st.sampled_from(["us-east-1", "eu-west-1"]),
    "resource": st.sampled_from(["i-0aaa", "i-0bbb", "I-0AAA", "i-0ccc", ""]),
    "name": st.sampled_from(["", "", "node-a", "node, with comma"]),
    "usage": st.sampled_from(["BoxUsage:p5.48xlarge", "SpotUsage:g5.xlarge", "", "EBS:VolumeUsage"]),
    "desc": st.sampled_from(["p5 hour", 'a "quoted" one', "two\nlines", "plain"]),
})


def export_text(rows: list[dict[str, object]], crlf: bool) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n" if crlf else "\n")
    w.writerow(HEADER)
    for r in rows:
        d, h, n = int(r["day"]), int(r["hour"]), int(r["hours"])  # type: ignore[call-overload]
        start = f"2026-11-{d:02d}T{h:02d}:00:00Z"
        end_h = h + n
        end = f"2026-11-{d + end_h // 24:02d}T{end_h % 24:02d}:00:00Z"
        w.writerow([r["cost"], r["currency"], r["category"], r["class"], r["desc"], end, start, r["qty"],
                    r["unit"], r["cost"], r["pricing"], r["region"], r["resource"], r["name"], r["service"],
                    r["usage"]])
    # Quoted values the strategy names with quotes are meant as written: csv.writer would
    # escape them, so put them back as a provider writes them.
    return out.getvalue().replace('"""2.5"""', '"2.5"').replace('"""Usage"""', '"Usage"')


def load(path: Path, fast: bool, monkeypatch: pytest.MonkeyPatch, expect: str | None = None) -> BillingPrices | str:
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(billing_rows, "columnar", lambda: None)
            m.setattr(billing, "columnar", lambda: None)
        try:
            return load_billing(path, "USD", expect=expect)
        except BillingError as exc:
            return str(exc)


def same(a: BillingPrices | str, b: BillingPrices | str) -> None:
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
        return
    assert (a.window_start, a.window_end, a.rows, a.skipped) == (b.window_start, b.window_end, b.rows, b.skipped)
    assert a.resources.keys() == b.resources.keys()
    for key, pa in a.resources.items():
        pb = b.resources[key]
        assert (pa.hours, pa.region, pa.instance_type, pa.capacity_type) == (
            pb.hours, pb.region, pb.instance_type, pb.capacity_type), key
        # Sums of one day split across pieces are added in another order: last bits only.
        assert pa.hourly == pytest.approx(pb.hourly, rel=1e-12, abs=1e-12), key
    assert a.skus.keys() == b.skus.keys()
    for sku, price in a.skus.items():
        assert price == pytest.approx(b.skus[sku], rel=1e-12, abs=1e-12)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row_strategy, min_size=1, max_size=60), crlf=st.booleans(),
       piece_bytes=st.sampled_from([64, 300, 1 << 21]), shuffle=st.randoms(use_true_random=False),
       expect=st.sampled_from(["2026-10-28", "2026-11-02", "2026-11-04", "2026-11-06", "2026-11-09"]))
def test_columns_and_rows_price_alike(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                                      rows: list[dict[str, object]], crlf: bool, piece_bytes: int,
                                      shuffle: random.Random, expect: str) -> None:
    """Both readers, without a guess of the window and with one (early, right or late: the
    rows' days are 1 to 12 November, so the window starts 26 October to 6 November)."""
    shuffle.shuffle(rows)
    path = tmp_path_factory.mktemp("export") / "bill.csv"
    path.write_bytes(export_text(rows, crlf).encode())
    monkeypatch.setattr(billing_chunks, "PIECE_BYTES", piece_bytes)
    rows_read = load(path, False, monkeypatch, "")
    same(load(path, True, monkeypatch, ""), rows_read)
    same(load(path, True, monkeypatch, expect), rows_read)
    same(load(path, False, monkeypatch, expect), rows_read)


def test_a_value_hashes_alike_whatever_the_width_of_its_piece() -> None:
    """A text's digest does not depend on how wide the piece's longest value of that column is
    (nor an empty value on whether the column is empty throughout): one digest per text."""
    narrow = billing_columns.hash_strings(np.array([b"", b"i-0aaa"], "S6"), 1)
    wide = billing_columns.hash_strings(np.array([b"i-0aaa", b"", b"i-0aaa1111aaaa1111a"], "S19"), 1)
    empty = billing_columns.hash_strings(np.zeros(1, "S1"), 1)
    assert (narrow[0], narrow[1]) == (wide[1], wide[0]) and empty[0] == narrow[0]
    assert len({int(wide[0]), int(wide[2]), int(billing_columns.hash_strings(np.array([b"i-0aaa"]), 2)[0])}) == 3


@pytest.mark.parametrize("texts_per_piece", [1, 3])
def test_texts_whose_digests_collide_are_read_row_by_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          texts_per_piece: int) -> None:
    """Every text given one digest: a piece whose new texts share it, or whose text's digest
    stands for a text met before, is read row by row; the prices are those of the row reader.
    Three resources, days 1..10 in pieces of one row (one text a piece) or of three rows."""
    rows = [{"cost": f"{day + node}.5", "currency": "USD", "category": "Usage", "class": "", "service": "Compute",
             "day": day, "hour": 0, "hours": 1, "qty": "1", "unit": "Hrs", "pricing": "Standard",
             "region": "us-east-1", "resource": f"i-0{'abc'[node]}{'abc'[node]}{'abc'[node]}", "name": "",
             "usage": "BoxUsage:p5.48xlarge", "desc": "p5 hour"} for day in range(1, 11) for node in range(3)]
    path = tmp_path / "bill.csv"
    path.write_text(export_text(rows, crlf=False))
    line = len(export_text(rows[:1], crlf=False).split("\n")[1]) + 1
    monkeypatch.setattr(billing_chunks, "PIECE_BYTES", line * texts_per_piece)
    expected = load(path, False, monkeypatch, "")
    merged: list[bool] = []
    merge = billing_rows.Rows._merge

    def counted(self: billing_rows.Rows, *args: object) -> bool:
        merged.append(merge(self, *args))  # type: ignore[arg-type]
        return merged[-1]

    monkeypatch.setattr(billing_rows.Rows, "_merge", counted)
    monkeypatch.setattr(billing_columns, "hash_strings",
                        lambda values, seed=0: np.zeros(len(values), np.uint64))
    same(load(path, True, monkeypatch, ""), expected)
    assert False in merged  # some pieces were refused for a shared digest ...
    if texts_per_piece == 1:
        assert True in merged  # ... after the first text was indexed under it
    # 7 days (4..10) of i-0aaa: (4 + ... + 10) + 7 x 0.5 = 52.5 $ over 7 Hrs
    assert not isinstance(expected, str) and expected.resources["i-0aaa"].hourly == pytest.approx(7.5)


def test_a_large_regular_export_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 20-day hourly export of 40 nodes in 4 KiB pieces (most read by columns, summed
    across many pieces a day), like bench.billing's in shape."""
    rng = random.Random(7)
    rows = []
    for day in range(1, 21):
        for hour in range(24):
            for node in range(40):
                rows.append({"cost": f"{1 + node / 8 + rng.random():.4f}", "currency": "USD", "category": "Usage",
                             "class": "", "service": "Compute", "day": day, "hour": hour, "hours": 1,
                             "qty": "1", "unit": "Hrs", "pricing": "Standard", "region": "us-east-1",
                             "resource": f"i-{node:04x}", "name": "", "usage": "BoxUsage:m5.xlarge",
                             "desc": "m5 hour"})
    path = tmp_path / "bill.csv"
    path.write_text(export_text(rows, crlf=True))
    monkeypatch.setattr(billing_chunks, "PIECE_BYTES", 4096)
    merged = []
    merge = billing_rows.Rows._merge

    def counted(self: billing_rows.Rows, *args: object) -> bool:
        merged.append(1)
        return merge(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(billing_rows.Rows, "_merge", counted)
    fast = load(path, True, monkeypatch)
    # 7 of 20 days of ~75-byte rows in 4 KiB pieces: about 150 pieces, all read by columns.
    assert len(merged) > 100
    assert not isinstance(fast, str)
    assert (fast.window_start, fast.window_end, len(fast.resources)) == ("2026-11-14", "2026-11-20", 40)
    same(fast, load(path, False, monkeypatch))


def test_a_day_whose_first_row_names_no_type_takes_the_first_that_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One node written two ways (ResourceId case), so two groups of one day: its first row
    names no type, its second (first text) p5.48xlarge, its third (second text) g5.xlarge. The
    row-by-row reader says p5.48xlarge; so must the columns, whichever group comes first."""
    base = {"cost": "1.0", "currency": "USD", "category": "Usage", "class": "", "service": "Compute",
            "day": 5, "hours": 1, "qty": "1", "unit": "Hrs", "pricing": "Standard", "region": "us-east-1",
            "name": "", "desc": "plain"}
    rows = [{**base, "hour": 0, "resource": "i-0aaa", "usage": ""},
            {**base, "hour": 1, "resource": "i-0aaa", "usage": "BoxUsage:p5.48xlarge"},
            {**base, "hour": 2, "resource": "I-0AAA", "usage": "SpotUsage:g5.xlarge"},
            {**base, "hour": 3, "resource": "I-0AAA", "usage": "SpotUsage:g5.xlarge"}]
    path = tmp_path / "bill.csv"
    path.write_text(export_text(rows, crlf=False))
    fast = load(path, True, monkeypatch)
    assert not isinstance(fast, str)
    assert fast.resources["i-0aaa"].instance_type == "p5.48xlarge"
    same(fast, load(path, False, monkeypatch))


def test_quoted_fields_span_their_doubled_quotes() -> None:
    # a,"x,""y""",b LF "q",c,d LF: quotes at 2 5 6 8 9 10 14 16; 5-6 and 8-9 are "" pairs
    a = np.frombuffer(b'a,"x,""y""",b\n"q",c,d\n', np.uint8)
    fields = billing_columns._quoted_fields(a)
    assert fields is not None
    assert (fields[0].tolist(), fields[1].tolist()) == ([2, 14], [10, 16])
    assert billing_columns._quoted_fields(np.frombuffer(b'a,b"c",d\n', np.uint8)) is None  # opens mid-field
