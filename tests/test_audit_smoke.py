from records.storage import audit


def test_append_and_verify(catalog):
    with catalog.writing() as s:
        audit.append(s, "alice", "user.added", "user", "bob", {"role": "clerk"})
        audit.append(s, "alice", "user.added", "user", "carol", {"role": "officer", "confidence": 0.5})
    with catalog.reading() as s:
        result = audit.verify(s)
    assert result.ok and result.events == 2
