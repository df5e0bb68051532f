# Heap map of the firmware's modules. Runs on the MicroPython VM, never on CPython:
#
#   micropython -X heapsize=<big> heapmap_vm.py <lib dir> <module> [<module> | =<phase>] ...
#
# Imports each module in turn with a hook on __import__ that collects before
# and after every import, and prints one line per module that took heap:
#   MOD <depth> <name> <own bytes> <bytes with what it imported first>
# `=name` arguments print PHASE <bytes so far> <name>; at the end TOTAL <bytes>
# and the VM's qstr figures. "Own" is a module's bytecode,
# constants, globals and any qstr pool its names made the VM grow (pools
# grow in steps, so a pool lands on the module that overflowed the last one).
# The stock firmware's frozen modules (asyncio, json...) are imported before
# the hook: on the boards they live in flash, not on the heap.
import builtins
import gc
import sys
import micropython

_imp = builtins.__import__
_acc = [0] * 40  # per import depth: the heap the nested imports took
_d = [0]


def _hook(name, g=None, l=None, fl=(), lv=0):
    d = _d[0]
    gc.collect()
    a = gc.mem_alloc()
    _acc[d + 1] = 0
    _d[0] = d + 1
    try:
        return _imp(name, g, l, fl, lv)
    finally:
        _d[0] = d
        gc.collect()
        inc = gc.mem_alloc() - a
        _acc[d] += inc
        if inc > 64:  # an import of a loaded module costs nothing worth a line
            sub = fl[0] if type(fl) is tuple and fl and not lv else ""
            if sub and (name + "." + sub) in sys.modules:
                name = name + "." + sub
            print("MOD", d, name, inc - _acc[d + 1], inc)


def main():
    sys.path.insert(0, sys.argv[1])
    import asyncio, json, hashlib, binascii, os, time, struct, select, socket  # frozen or built in on boards

    gc.collect()
    base = gc.mem_alloc()
    builtins.__import__ = _hook
    for m in sys.argv[2:]:
        if m[0] == "=":  # a phase mark: the heap all modules so far take
            gc.collect()
            print("PHASE", gc.mem_alloc() - base, m[1:])
        else:
            __import__(m)
    builtins.__import__ = _imp
    gc.collect()
    print("TOTAL", gc.mem_alloc() - base)
    micropython.qstr_info()


main()
