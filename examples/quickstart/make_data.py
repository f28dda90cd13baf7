"""Generate the quickstart's demo data: deterministic, small, realistic, a little messy.

    python examples/quickstart/make_data.py        # rewrites examples/quickstart/data/

Same script, same pyarrow version -> byte-identical files (a seeded RNG, no clocks). The data
has what real exports have: non-ASCII names, NULLs, decimals, dates, UTC timestamps, and
free text with commas, quotes and line breaks.

- data/customers.csv      300 rows: id, name, email (some NULL), country, city (some NULL), signup_date
- data/customers.parquet  the same rows with their Arrow types
- data/orders.csv         2500 rows: order_id, customer_id, order_date, created_at (UTC), status,
                          amount (decimal 12,2), currency, note (mostly NULL, some tricky text)
- data/products.parquet   120 rows: sku, name, category, price (decimal 10,2), weight_kg, launched,
                          discontinued
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

SEED = 20240601
OUT = Path(__file__).resolve().parent / "data"

PEOPLE = {
    "CZ": (
        ["Jiří", "Eliška", "Tomáš", "Zuzana", "Radek", "Věra"],
        ["Dvořák", "Nováková", "Černý", "Šťastná", "Růžička"],
        ["Praha", "Brno", "Ostrava", "České Budějovice"],
    ),
    "DE": (
        ["Jürgen", "Anna", "Björn", "Grete"],
        ["Müller", "Schäfer", "Groß", "Köhler"],
        ["München", "Köln", "Berlin"],
    ),
    "FR": (
        ["Chloé", "François", "Léa", "Hélène"],
        ["Lefèvre", "Dubois", "Côté", "Giraud"],
        ["Paris", "Lyon", "Besançon"],
    ),
    "ES": (["Íñigo", "María José", "Begoña"], ["Muñoz", "García", "Peña"], ["Málaga", "A Coruña", "Madrid"]),
    "PL": (["Łukasz", "Małgorzata", "Paweł"], ["Wójcik", "Szczęsny", "Żak"], ["Łódź", "Kraków", "Gdańsk"]),
    "SE": (["Åsa", "Björn", "Märta"], ["Öberg", "Ångström", "Lindqvist"], ["Göteborg", "Malmö", "Umeå"]),
    "JP": (["Haruto", "Yui", "Sōta"], ["Satō", "Itō", "Kōno"], ["東京", "大阪", "札幌"]),
    "US": (
        ["Emily", "Jamal", "O'Brien"],
        ["Smith", "O'Connor", "Nguyen"],
        ["New York", "Austin", "Portland"],
    ),
}
CURRENCY = {
    "CZ": "CZK",
    "DE": "EUR",
    "FR": "EUR",
    "ES": "EUR",
    "PL": "PLN",
    "SE": "SEK",
    "JP": "JPY",
    "US": "USD",
}
STATUSES = ["paid"] * 6 + ["shipped"] * 5 + ["pending"] * 2 + ["cancelled", "refunded"]
NOTES = [
    'Leave at the door, "please"',
    "Gift wrap, no invoice",
    "Call before delivery;\nthe bell is broken",
    "Doručit po 17:00",
    "Zustellung nur werktags",
    "  spaces around  ",
    "",
]
CATEGORIES = ["Kitchen", "Garden", "Office", "Toys", "Outdoor"]


def ascii_slug(text: str) -> str:
    text = text.translate(str.maketrans({"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "ß": "ss"}))
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum()) or "user"


def customers(rng: random.Random) -> pa.Table:
    rows = []
    start = dt.date(2021, 1, 1)
    for cid in range(1, 301):
        country = rng.choice(sorted(PEOPLE))
        first, last, cities = PEOPLE[country]
        given, family = rng.choice(first), rng.choice(last)
        email = None if rng.random() < 0.08 else f"{ascii_slug(given)}.{ascii_slug(family)}{cid}@example.com"
        rows.append(
            {
                "id": cid,
                "name": f"{given} {family}",
                "email": email,
                "country": country,
                "city": None if rng.random() < 0.05 else rng.choice(cities),
                "signup_date": start + dt.timedelta(days=rng.randrange(0, 1100)),
            }
        )
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("name", pa.string()),
            ("email", pa.string()),
            ("country", pa.string()),
            ("city", pa.string()),
            ("signup_date", pa.date32()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def orders(rng: random.Random, people: pa.Table) -> pa.Table:
    countries = dict(zip(people["id"].to_pylist(), people["country"].to_pylist(), strict=True))
    rows = []
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for oid in range(1, 2501):
        cid = rng.randrange(1, 301)
        created = base + dt.timedelta(seconds=rng.randrange(0, 366 * 86400))
        cents = int(rng.lognormvariate(8.5, 1.0))
        currency = CURRENCY[countries[cid]]
        if currency == "JPY":  # yen have no minor unit
            cents = cents * 100
        rows.append(
            {
                "order_id": 100000 + oid,
                "customer_id": cid,
                "order_date": created.date(),
                "created_at": created,
                "status": rng.choice(STATUSES),
                "amount": None if rng.random() < 0.01 else Decimal(cents) / 100,
                "currency": currency,
                "note": rng.choice(NOTES) if rng.random() < 0.12 else None,
            }
        )
    schema = pa.schema(
        [
            ("order_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("order_date", pa.date32()),
            ("created_at", pa.timestamp("s", tz="UTC")),
            ("status", pa.string()),
            ("amount", pa.decimal128(12, 2)),
            ("currency", pa.string()),
            ("note", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def products(rng: random.Random) -> pa.Table:
    adjectives = ["Malý", "Große", "Élégant", "Robusto", "Szybki", "Ljus", "Classic", "静か"]
    things = ["hrnek", "Schaufel", "lampe", "mochila", "zeszyt", "ljusstake", "kettle", "箸"]
    rows = []
    for n in range(1, 121):
        rows.append(
            {
                "sku": f"SKU-{n:04d}",
                "name": f"{rng.choice(adjectives)} {rng.choice(things)}",
                "category": rng.choice(CATEGORIES),
                "price": Decimal(rng.randrange(199, 99999)) / 100,
                "weight_kg": None if rng.random() < 0.1 else round(rng.uniform(0.05, 25.0), 3),
                "launched": dt.date(2018, 1, 1) + dt.timedelta(days=rng.randrange(0, 2400)),
                "discontinued": rng.random() < 0.15,
            }
        )
    schema = pa.schema(
        [
            ("sku", pa.string()),
            ("name", pa.string()),
            ("category", pa.string()),
            ("price", pa.decimal128(10, 2)),
            ("weight_kg", pa.float64()),
            ("launched", pa.date32()),
            ("discontinued", pa.bool_()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def write_csv(table: pa.Table, path: Path) -> None:
    """Plain header, strings quoted (so "" and NULL stay apart), LF line ends."""
    with path.open("wb") as out:
        out.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table, out, write_options=pacsv.WriteOptions(include_header=False))


def write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd", row_group_size=100_000)


def main(out: Path = OUT) -> None:
    rng = random.Random(SEED)
    out.mkdir(parents=True, exist_ok=True)
    people = customers(rng)
    write_csv(people, out / "customers.csv")
    write_parquet(people, out / "customers.parquet")
    write_csv(orders(rng, people), out / "orders.csv")
    write_parquet(products(rng), out / "products.parquet")
    for file in sorted(out.iterdir()):
        print(f"{file.relative_to(out.parent)}  {file.stat().st_size} bytes")


if __name__ == "__main__":
    main()
