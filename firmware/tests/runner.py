"""Run one firmware test module on MicroPython and print one JSON line per test.

    micropython tests/runner.py test_frame          # run every test_* function
    micropython tests/runner.py test_frame --list   # print the test names only

Output lines start with "@@T " so console text printed by the code under test
never gets mistaken for a result.
"""

import io
import json
import sys


def _names(mod):
    names = [n for n in dir(mod) if n.startswith("test_") and callable(getattr(mod, n))]
    names.sort()
    return names


def _emit(obj):
    sys.stdout.write("@@T " + json.dumps(obj) + "\n")


def main(argv):
    modname = argv[1]
    if modname.endswith(".py"):
        modname = modname.rsplit("/", 1)[-1][:-3]
    mod = __import__(modname)
    names = _names(mod)
    if "--list" in argv:
        for n in names:
            _emit({"test": n})
        return
    only = [a for a in argv[2:] if not a.startswith("--")]
    for n in names:
        if only and n not in only:
            continue
        ok = True
        err = ""
        try:
            getattr(mod, n)()
        except Exception as e:  # SystemExit and KeyboardInterrupt stop the run
            ok = False
            s = io.StringIO()
            sys.print_exception(e, s)
            err = s.getvalue()
        _emit({"test": n, "ok": ok, "error": err})
        import gc

        gc.collect()


main(sys.argv)
