"""The PostgreSQL consent store, for clinics with several terminals or several sites.

Optional: ``pip install ims-consent-kiosk[postgresql]`` brings psycopg 3 and its pool, and
nothing here is imported unless the settings say ``store = "postgresql"`` (the kiosk's
start path never imports psycopg). docs/postgresql.md describes roles, migrations, backups
and how the embedded store's guarantees map onto the database.

- :mod:`.engine`: :class:`~consent_records.pg.engine.PostgresStore` and
  :func:`~consent_records.pg.engine.open_pg_store`;
- :mod:`.migrations`: the versioned SQL files and ``db init`` / ``db migrate``;
- :mod:`.body`: the hashed bytes of an entry, shared with the embedded store's format;
- :mod:`.search`: the staff browser's queries in SQL;
- :mod:`.verify`, :mod:`.copy`: verify, and ``store copy`` in both directions.
"""
