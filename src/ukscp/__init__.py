"""ukscp: smart EV charge point software for the UK Smart Charge Points Regulations 2021."""

__version__ = "0.1.0"
