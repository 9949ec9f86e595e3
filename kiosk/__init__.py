"""IMS Consent Kiosk: settings, consent-session services, the Textual app and the CLI."""

__version__ = "0.1.0"
