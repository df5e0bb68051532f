"""Log ring: levels, order, eviction, tail limits."""

from hub.services.logbuf import Log


def test_levels_filter():
    l = Log(echo=False)
    l.debug("d")
    l.info("i")
    l.warn("w")
    l.set_level("warn")
    l.info("i2")
    l.error("e")
    t = l.tail(10)
    assert [x.split(" ", 2)[1:] for x in t] == [["I", "i"], ["W", "w"], ["E", "e"]], t


def test_ring_evicts_oldest_whole_lines():
    l = Log(capacity=256, echo=False)
    for i in range(100):
        l.info("line %d" % i)
    t = l.tail(200)
    assert t[-1].endswith("line 99")
    nums = [int(x.rsplit(" ", 1)[1]) for x in t]
    assert nums == list(range(nums[0], 100)), nums
    assert l.n <= 256
    assert len(t) > 5


def test_tail_n_and_bytes():
    l = Log(echo=False)
    for i in range(30):
        l.info("x%d" % i)
    assert [x.rsplit(" ", 1)[1] for x in l.tail(3)] == ["x27", "x28", "x29"]
    few = l.tail(30, max_bytes=60)
    assert 0 < len(few) < 30 and few[-1].endswith("x29")


def test_multiline_and_long():
    l = Log(capacity=400, echo=False)
    l.error("a\nb")
    l.info("y" * 1000)
    t = l.tail(5)
    assert t[0].endswith(" a") and t[1].endswith(" b")
    assert len(t[2]) < 100


def test_exception_logged():
    l = Log(echo=False)
    try:
        raise KeyError("boom")
    except KeyError as e:
        l.exc("failed", e)
    t = "\n".join(l.tail(10))
    assert "failed" in t and "KeyError" in t
