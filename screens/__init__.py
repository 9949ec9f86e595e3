"""Textual screens and widgets of the kiosk.

Screens collect input, hand it to the consent session (``kiosk.session``) and tell the app
to move on. They never touch the record store or PDF code.
"""
