"""Lamina's command line. Only this package prints errors; see ``lamina.cli.main``."""
