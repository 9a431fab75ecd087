"""Quality: identifier, field and region rules, canonical records, Great Expectations suites, Data Docs."""
