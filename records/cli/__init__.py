"""The ``records`` command line (Typer). Commands call storage services and flows only."""
