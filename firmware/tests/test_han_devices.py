"""hub.han_devices' command table: every han.* name it registers runs its function (han.X.Y is X_Y of its
module), and the module is dropped again after each command."""

import sys

from hub import han_devices
from hub.errors import HubError
from test_han_reads import _hub
from util import raises


def test_every_registered_han_command_reaches_its_function_and_its_module_is_dropped_after():
    reg, _ncp, _app = _hub()
    names = [n for _m, ns in han_devices._COMMANDS for n in ns]
    assert sorted(n for n in reg.handlers if n.startswith("han.")) == sorted(names)
    for module, ns in han_devices._COMMANDS:
        path = "hub.control." + module
        assert path not in sys.modules  # registering loaded nothing
        for name in ns:
            # An unknown argument is refused by the command's own checks: proof it reached its function.
            e = raises(HubError, reg.dispatch, name, {"no_such_arg": 1})
            assert e.code == "bad_args", (name, e.code, e.message)
            assert path not in sys.modules and "hub.services.device_log_edit" not in sys.modules
