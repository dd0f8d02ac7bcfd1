"""Checks on what owners send: reply checks, screening, harm decisions, and scripted attacks for tests."""
