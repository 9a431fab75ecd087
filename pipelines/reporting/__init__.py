"""Reporting: status, the progress chart, run summaries. They read; they never write the warehouse."""
