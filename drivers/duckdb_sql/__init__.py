"""The DuckDB SQL transform."""
