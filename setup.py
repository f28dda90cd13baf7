"""The one compiled part of the package: the PostgreSQL binary COPY decoder (drivers/postgres/_pgcopy.c).

Everything else is declared in pyproject.toml. The extension is optional: where no C compiler or
Python headers are present the install still succeeds, and the postgres extractor reads through ADBC
(drivers/postgres/native_plan.py reports which path a read took). It needs no libpq headers: the
decoder is pure C over bytes, and the libpq functions it calls arrive as addresses at run time.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "osiris.drivers.postgres._pgcopy",
            sources=["drivers/postgres/_pgcopy.c", "drivers/postgres/pgcopy_core.c", "drivers/postgres/pgcopy_pool.c"],
            depends=["drivers/postgres/pgcopy_core.h", "drivers/postgres/pgcopy_pool.h"],
            extra_compile_args=["-O2", "-fvisibility=hidden"],
            optional=True,
        )
    ]
)
