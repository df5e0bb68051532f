"""hub.han_devices' command table: every han.* name runs its function (han.X.Y is X_Y of its module) through
the registry's fallback, an unknown han.* name is an unknown command, and the module is dropped again after
each command."""

import sys

from hub import han_devices
from hub.errors import HubError
from test_han_reads import _hub
from util import raises


def test_every_han_command_reaches_its_function_and_its_module_is_dropped_after():
    reg, _ncp, _app = _hub()
    assert not [n for n in reg.handlers if n.startswith("han.")]  # no per-name entries
    for module, names in han_devices._COMMANDS:
        path = "hub.control." + module
        assert path not in sys.modules  # nothing loaded before a command comes
        for name in names:
            # An unknown argument is refused by the command's own checks: proof it reached its function.
            e = raises(HubError, reg.dispatch, name, {"no_such_arg": 1})
            assert e.code == "bad_args", (name, e.code, e.message)
            assert path not in sys.modules and "hub.services.device_log_edit" not in sys.modules
    for name in ("han.nothing", "han.log.add.x", "han", "han."):
        assert raises(HubError, reg.dispatch, name, {}).code == "unknown_command"
    assert reg.dispatch("han.log", {})[0]["log"]  # and a command still answers
