"""MySQL and MariaDB drivers: `mysql.extractor` and `mysql.writer` (see each module)."""
