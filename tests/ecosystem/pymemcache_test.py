#!/usr/bin/python3
"""pymemcache against Larder: the calls a Python application makes.

Usage: pymemcache_test.py PORT.  Prints one "ok - ..." or "not ok - ..."
line per check (run.sh counts them) and exits non-zero if any failed.
Runs under Debian's /usr/bin/python3, which has python3-pymemcache.
"""
import sys

from pymemcache import serde
from pymemcache.client.base import Client
from pymemcache.exceptions import (MemcacheIllegalInputError,
                                   MemcacheServerError)

failures = 0


def check(name, cond, detail=""):
    global failures
    if cond:
        print("ok - " + name)
    else:
        failures += 1
        print("not ok - %s: %s" % (name, detail))


def raises(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc:
        return True
    except Exception as e:  # a different error is a failure, not a crash
        print("    unexpected %r" % e)
    return False


def main():
    port = int(sys.argv[1])
    c = Client(("127.0.0.1", port), connect_timeout=5, timeout=5, default_noreply=False)

    check("flush_all", c.flush_all() is True)
    check("version", c.version().decode().startswith("1."), c.version())

    check("set", c.set("py:a", b"alpha") is True)
    v = c.get("py:a")
    check("get", v == b"alpha", v)
    check("get miss", c.get("py:none") is None)
    check("get default", c.get("py:none", default=b"d") == b"d")

    c.set("py:b", b"beta")
    c.set("py:c", b"")
    many = c.get_many(["py:a", "py:b", "py:c", "py:none"])
    check("get_many", many == {"py:a": b"alpha", "py:b": b"beta", "py:c": b""}, many)
    check("set_many", c.set_many({"py:m1": b"1", "py:m2": b"2"}) == [])
    check("get_multi alias", c.get_multi(["py:m1", "py:m2"]) == {"py:m1": b"1", "py:m2": b"2"})

    value, token = c.gets("py:a")
    check("gets", value == b"alpha" and isinstance(token, bytes) and token.isdigit(), (value, token))
    check("cas with a fresh token", c.cas("py:a", b"alpha2", token) is True)
    check("cas with a stale token", c.cas("py:a", b"alpha3", token) is False)
    check("cas on a missing key", c.cas("py:none", b"x", b"1") is None)
    check("value after cas", c.get("py:a") == b"alpha2")
    gm = c.gets_many(["py:a", "py:b"])
    check("gets_many", set(gm) == {"py:a", "py:b"} and all(t.isdigit() for _, t in gm.values()), gm)

    c.set("py:n", b"10")
    check("incr", c.incr("py:n", 5) == 15)
    check("decr", c.decr("py:n", 3) == 12)
    check("decr stops at 0", c.decr("py:n", 100) == 0)
    check("incr wraps at 2**64", c.set("py:w", str(2**64 - 1)) and c.incr("py:w", 2) == 1)
    check("incr on a missing key", c.incr("py:none", 1) is None)
    check("incr on a non-number", raises(Exception, c.incr, "py:a", 1))

    check("add a new key", c.add("py:add", b"1") is True)
    check("add an existing key", c.add("py:add", b"2") is False)
    check("replace an existing key", c.replace("py:add", b"3") is True)
    check("replace a missing key", c.replace("py:none", b"3") is False)
    check("append", c.append("py:add", b"45") is True and c.get("py:add") == b"345")
    check("prepend", c.prepend("py:add", b"12") is True and c.get("py:add") == b"12345")
    check("append to a missing key", c.append("py:none", b"x") is False)

    check("touch an existing key", c.touch("py:b", 100) is True)
    check("touch a missing key", c.touch("py:none", 100) is False)
    check("delete", c.delete("py:b") is True and c.get("py:b") is None)
    check("delete a missing key", c.delete("py:b") is False)
    check("delete_many", c.delete_many(["py:m1", "py:m2"]) is True and c.get("py:m1") is None)

    # noreply: the client sends and does not wait; the next request sees it.
    c.set("py:nr", b"quiet", noreply=True)
    c.incr("py:n", 7, noreply=True)
    c.delete("py:c", noreply=True)
    got = c.get_many(["py:nr", "py:n", "py:c"])
    # decr shrank "12" to "0" in place, so like memcached the number is
    # padded with a space: compare numbers, not bytes.
    check("noreply set/incr/delete", set(got) == {"py:nr", "py:n"} and got["py:nr"] == b"quiet" and
          int(got["py:n"]) == 7, got)

    big = bytes(range(256)) * 4000  # 1,024,000 bytes: fits the 1 MB item limit
    check("large value (1,024,000 bytes)", c.set("py:big", big) is True and c.get("py:big") == big)
    check("too large value refused by the server",
          raises(MemcacheServerError, c.set, "py:huge", b"x" * (2 << 20)))
    check("connection usable after a refused value", c.get("py:a") == b"alpha2")

    check("unicode key rejected client-side", raises(MemcacheIllegalInputError, c.set, "ключ", b"v"))
    check("key with a space rejected", raises(MemcacheIllegalInputError, c.set, "a b", b"v"))
    check("251-byte key rejected", raises(MemcacheIllegalInputError, c.set, "k" * 251, b"v"))
    check("250-byte key accepted", c.set("k" * 250, b"v") is True and c.get("k" * 250) == b"v")

    # Flags carry the type through a serializer, as applications use it.
    p = Client(("127.0.0.1", port), serde=serde.pickle_serde, default_noreply=False)
    obj = {"id": 7, "tags": ["a", "b"], "name": "ünïcode value"}
    p.set("py:obj", obj)
    p.set("py:int", 42)
    check("serde round trip (flags)", p.get("py:obj") == obj and p.get("py:int") == 42)
    u = Client(("127.0.0.1", port), allow_unicode_keys=True, default_noreply=False)
    check("unicode key when allowed", u.set("ключ", b"v") is True and u.get("ключ") == b"v")
    p.close()
    u.close()

    st = c.stats()
    check("stats", st.get(b"curr_items", 0) > 0 and b"get_hits" in st and b"uptime" in st, st)
    si = c.stats("items")
    check("stats items", any(k.endswith(b":number") for k in si), si)
    ss = c.stats("settings")
    check("stats settings", ss.get(b"item_size_max") == 1048576, ss.get(b"item_size_max"))

    check("flush_all empties", c.flush_all() is True and c.get("py:a") is None)
    check("flush_all with delay", c.flush_all(delay=0, noreply=True) is True)
    check("quit", c.quit() is None)
    c.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
