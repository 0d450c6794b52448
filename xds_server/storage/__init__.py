"""SQLAlchemy storage of the registry and the patient directory (SQLite or PostgreSQL).

Usage (composition root)::

    database = Database(settings.database_url, schema=settings.database_schema)
    upgrade(database)                                   # once at start-up
    with database.transaction() as connection:          # one per request; commits at the end
        store = SqlRegistryStore(connection, encode_xml)
        patients = SqlPatientDirectory(connection)
        records = SqlRecordStore(connection)            # record settings the DMP rules read
        ...                                             # run the use case with them
"""

from xds_server.storage.database import Database, sqlite_url_for
from xds_server.storage.errors import translate_db_errors
from xds_server.storage.migrate import current_revision, head_revision, upgrade
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.records import SqlRecordStore
from xds_server.storage.registry import SqlRegistryStore, StoredXml, XmlEncoder

__all__ = [
    "Database",
    "SqlPatientDirectory",
    "SqlRecordStore",
    "SqlRegistryStore",
    "StoredXml",
    "XmlEncoder",
    "current_revision",
    "head_revision",
    "sqlite_url_for",
    "translate_db_errors",
    "upgrade",
]
