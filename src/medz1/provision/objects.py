"""Every user object of the medz1 database, named the way PostgreSQL names it.

One walk over the system catalogs (objects with an OID of at least 16384, the first one
``initdb`` leaves to users), named by ``pg_identify_object``: tables, views, sequences,
functions, procedures, aggregates, operators, types, domains, collations, conversions,
text search objects, casts, event triggers, rules, extensions, foreign servers and
wrappers, publications, large objects and schemas. Members of an extension and objects
that belong to another one (array types, row types, identity sequences, view rules) are
left out: they come and go with their parent.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

#: (catalog, owner column or NULL, namespace column or NULL)
_CATALOGS: tuple[tuple[str, str, str], ...] = (
    ("pg_class", "relowner", "relnamespace"),
    ("pg_proc", "proowner", "pronamespace"),
    ("pg_type", "typowner", "typnamespace"),
    ("pg_collation", "collowner", "collnamespace"),
    ("pg_conversion", "conowner", "connamespace"),
    ("pg_operator", "oprowner", "oprnamespace"),
    ("pg_opclass", "opcowner", "opcnamespace"),
    ("pg_opfamily", "opfowner", "opfnamespace"),
    ("pg_ts_config", "cfgowner", "cfgnamespace"),
    ("pg_ts_dict", "dictowner", "dictnamespace"),
    ("pg_ts_parser", "NULL::oid", "prsnamespace"),
    ("pg_ts_template", "NULL::oid", "tmplnamespace"),
    ("pg_statistic_ext", "stxowner", "stxnamespace"),
    ("pg_constraint", "NULL::oid", "connamespace"),
    ("pg_namespace", "nspowner", "NULL::oid"),
    ("pg_extension", "extowner", "NULL::oid"),
    ("pg_event_trigger", "evtowner", "NULL::oid"),
    ("pg_cast", "NULL::oid", "NULL::oid"),
    ("pg_transform", "NULL::oid", "NULL::oid"),
    ("pg_am", "NULL::oid", "NULL::oid"),
    ("pg_language", "lanowner", "NULL::oid"),
    ("pg_foreign_data_wrapper", "fdwowner", "NULL::oid"),
    ("pg_foreign_server", "srvowner", "NULL::oid"),
    ("pg_user_mappings", "NULL::oid", "NULL::oid"),
    ("pg_publication", "pubowner", "NULL::oid"),
    ("pg_largeobject_metadata", "lomowner", "NULL::oid"),
    ("pg_rewrite", "NULL::oid", "NULL::oid"),
    ("pg_trigger", "NULL::oid", "NULL::oid"),
    ("pg_policy", "NULL::oid", "NULL::oid"),
    ("pg_attrdef", "NULL::oid", "NULL::oid"),
)

_FIRST_USER_OID = 16384
_CLASS = {"pg_largeobject_metadata": "pg_largeobject", "pg_user_mappings": "pg_user_mapping"}
#: Catalogs only a superuser may read, read through the view PostgreSQL gives everyone.
_SOURCE = {"pg_user_mappings": "(SELECT umid AS oid FROM pg_catalog.pg_user_mappings) AS m"}


def _query() -> str:
    # Large objects are identified by pg_largeobject, though their rows live in the
    # metadata catalog; user mappings are read through their view (pg_user_mapping itself
    # is readable by superusers only).
    parts = [
        f"SELECT '{_CLASS.get(catalog, catalog)}'::regclass AS classid, oid AS objid, {owner} AS owner, "
        f"{namespace} AS nsp FROM {_SOURCE.get(catalog, catalog)} WHERE oid >= {_FIRST_USER_OID}"
        for catalog, owner, namespace in _CATALOGS
    ]
    union = "\nUNION ALL\n".join(parts)
    # The catalog names above are constants of this module, never input.
    return f"""
        WITH o AS ({union})
        SELECT i.type, i.identity, COALESCE(pg_get_userbyid(o.owner), ''), i.schema
        FROM o CROSS JOIN LATERAL pg_identify_object(o.classid, o.objid, 0) i
        LEFT JOIN pg_namespace n ON n.oid = o.nsp
        WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = o.classid
                          AND d.objid = o.objid AND d.deptype IN ('e', 'i'))
          AND (o.nsp IS NULL OR n.nspname = ANY(:schemas))
          AND NOT (o.classid = 'pg_namespace'::regclass
                   AND (i.identity LIKE 'pg\\_temp\\_%' OR i.identity LIKE 'pg\\_toast\\_temp\\_%'))
        ORDER BY 1, 2
    """


@dataclass(frozen=True)
class CatalogObject:
    """One object: its type (``function``, ``view``, ...), identity and owner ('' if none)."""

    type: str
    identity: str
    owner: str
    schema: str | None

    @property
    def name(self) -> str:
        """``<type> <identity>``, as PostgreSQL's ``pg_identify_object`` words them."""
        return f"{self.type} {self.identity}"


def user_objects(conn: Connection, schemas: tuple[str, ...]) -> list[CatalogObject]:
    """Every user object in ``schemas`` and every one without a schema (database-wide)."""
    rows = conn.execute(text(_query()), {"schemas": list(schemas)}).all()
    return [CatalogObject(str(t), str(i), str(o), s) for t, i, o, s in rows]
