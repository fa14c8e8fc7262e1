"""Everything that touches the catalog, the blob store or the key store.

``storage/`` owns every SQL statement in the project: the other layers call the
services here with plain data and get plain data back.
"""
