"""Scenario files and strategy presets: parsing, building, built-in data sources."""
