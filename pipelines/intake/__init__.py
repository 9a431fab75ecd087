"""Intake: the landing area (folders, manifests, hashes, size guards) and the readers of each file format."""
