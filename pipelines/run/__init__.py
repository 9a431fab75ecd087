"""The one run core: plan a run, stage partner-days, load them in order under the writer lock, publish."""
