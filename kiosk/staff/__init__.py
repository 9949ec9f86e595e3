"""The staff side's services: sign-in, sessions, records, accounts and the audit log.

No Textual here: the staff app (``screens/staff``) and the ``ims-kiosk users`` /
``records`` commands both call :class:`kiosk.staff.services.StaffServices`, which checks
every operation against the signed-in person's role (deny by default,
:mod:`kiosk.auth.permissions`), asks the consent lifecycle whether it makes sense
(:mod:`consent_records.lifecycle`), appends it to the store conditionally (a stale screen
never overwrites another terminal's act) and audits it.

* :mod:`.errors`: the exceptions staff see (each one sentence);
* :mod:`.sessions`: a signed-in session and its time limits;
* :mod:`.review`: one record as a physiotherapist reads it ("discuss these first", the
  timeline, the reading-time estimate);
* :mod:`.changes`: "what changed" between the content a patient saw and today's;
* :mod:`.audit_csv`: the audit log as CSV (safe to open in a spreadsheet);
* :mod:`.core` (settings, store, sign-in, sessions), :mod:`.records` (records and the
  consent acts), :mod:`.admin` (accounts, audit log, verify, backup), joined in
  :mod:`.services` as :class:`StaffServices`.

README.md (The staff side) says what each role may do.
"""
