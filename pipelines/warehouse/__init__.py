"""The DuckDB warehouse: schema, ledger, one-transaction loads, listings and identity resolution."""
