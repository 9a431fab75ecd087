"""Publishing: aggregates from the warehouse, audit, and the atomic swap of the file BI reads."""
