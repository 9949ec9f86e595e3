"""The staff app's screens (sign-in, records, one record, dialogs, admin)."""
