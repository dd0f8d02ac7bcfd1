"""The one error type for bad user input (files, options, scenario and strategy settings)."""


class InputError(ValueError):
    """A problem with what the user gave us; the CLI prints it on one line and exits with status 2."""
