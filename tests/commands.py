"""Command lines run inside the test process, as `python -m <module> ARGS` runs them.

    code, out, err = run_module(["engine.train", "--steps", "2"], capsys, monkeypatch)

The module's own `__main__` block runs (argument parsing, run_cli's one-line errors and exit status), without the
new interpreter, TensorFlow import and trace a subprocess costs each time. A test whose subject is the process
itself (a signal, a kill, what a fresh interpreter prints before Python code runs) starts a real one instead.
"""

from __future__ import annotations

import runpy
import signal
import sys
import warnings


def run_module(argv, capsys, monkeypatch) -> tuple[int, str, str]:
    """Runs `python -m argv[0] argv[1:]` in this process: (exit status, stdout, stderr).

    The signal handlers a training run installs are put back afterwards, so a later test's Ctrl-C still ends pytest.
    """
    argv = [str(a) for a in argv]
    monkeypatch.setattr(sys, "argv", argv)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    capsys.readouterr()
    code = 0  # a module whose __main__ returns without sys.exit exits 0, as the interpreter would
    try:
        with warnings.catch_warnings():
            # runpy warns that the package already imported the module it runs again as __main__: expected here.
            warnings.filterwarnings("ignore", "'.*' found in sys.modules", RuntimeWarning)
            runpy.run_module(argv[0], run_name="__main__", alter_sys=False)
    except SystemExit as exited:
        code = exited.code or 0
        if not isinstance(code, int):  # sys.exit("message"): the interpreter prints it and exits 1
            print(code, file=sys.stderr)
            code = 1
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
    out, err = capsys.readouterr()
    return code, out, err
