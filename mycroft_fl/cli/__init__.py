"""The `mycroft-fl` command line: simulate, compare, and their plots."""
