"""The compiled parts of the package: two decoders of database wire formats into Arrow buffers.

- drivers/postgres/_pgcopy.c, the PostgreSQL binary COPY decoder. It needs no libpq headers: the
  decoder is pure C over bytes, and the libpq functions it calls arrive as addresses at run time.
- drivers/mysql/_myrows.c, the MySQL binary-protocol row decoder (pymysql keeps the connection).

Everything else is declared in pyproject.toml. Both extensions are optional: where no C compiler or
Python headers are present the install still succeeds, and the extractors read through ADBC and
connectorx instead (each reports which path a read took).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "osiris.drivers.postgres._pgcopy",
            sources=["drivers/postgres/_pgcopy.c", "drivers/postgres/pgcopy_core.c", "drivers/postgres/pgcopy_pool.c"],
            depends=["drivers/postgres/pgcopy_core.h", "drivers/postgres/pgcopy_pool.h", "drivers/common/utf8_valid.h"],
            extra_compile_args=["-O2", "-fvisibility=hidden"],
            optional=True,
        ),
        Extension(
            "osiris.drivers.mysql._myrows",
            sources=["drivers/mysql/_myrows.c", "drivers/mysql/myrows_core.c"],
            depends=["drivers/mysql/myrows_core.h", "drivers/common/utf8_valid.h"],
            extra_compile_args=["-O2", "-fvisibility=hidden"],
            optional=True,
        ),
    ]
)
