"""Staff accounts, passwords, sign-in throttling and permissions: pure parts, no Textual.

* :mod:`kiosk.auth.accounts`: ``StaffAccount`` folded from audited account events, and
  the checks on account changes;
* :mod:`kiosk.auth.policy`: the password rules (NIST SP 800-63B rev. 4) and the blocklist;
* :mod:`kiosk.auth.passwords`: argon2id hashing, rehash on sign-in, dummy verification
  (imports argon2-cffi: import it only where passwords are checked);
* :mod:`kiosk.auth.throttle`: the sign-in delay and lock, derived from the audited history,
  and the one place that decides a sign-in attempt;
* :mod:`kiosk.auth.permissions`: the deny-by-default role table.

Where things are stored, and why no audit entry holds a password hash: docs/staff-accounts.md.
"""
