"""Scenario files: parsing, building the data, built-in data sources."""
