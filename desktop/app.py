"""`cladmop-studio`: start the desktop application.

    cladmop-studio [FILE...] [--open FILE...] [--workspace PATH] [--model DIR] [--device auto|cpu|cuda]
                   [--screenshot OUT.png] [--no-model]

`--screenshot` renders the main window once the files are read and predicted, saves it, and exits.
It draws off screen (Qt's "offscreen" platform), as does any start on a Linux machine without a
display (no DISPLAY / WAYLAND_DISPLAY), unless QT_QPA_PLATFORM says otherwise.

Without --model/--device the model folder and device chosen last in the model manager are used.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cladmop-studio", description="CLaDMoP Studio: clinical-trial outcome "
                                     "prediction on your own machine.")
    parser.add_argument("files", nargs="*", help="record files or folders to open")
    parser.add_argument("--open", nargs="+", default=[], metavar="FILE", help="record files or folders to open")
    parser.add_argument("--workspace", metavar="PATH", help="workspace file to open or create (*.cladmop)")
    parser.add_argument("--screenshot", metavar="OUT.png", help="save a picture of the window when idle, then exit")
    parser.add_argument("--screenshot-timeout", type=float, default=600.0, metavar="SECONDS",
                        help="give up waiting for predictions after this long (default 600)")
    parser.add_argument("--size", default="1480x920", metavar="WxH", help="window size (default 1480x920)")
    parser.add_argument("--model", metavar="DIR", help="model folder (default: the one chosen last, else the "
                                                       "shipped model)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where the model runs (default: the one chosen last, else CUDA when available)")
    parser.add_argument("--no-model", action="store_true", help="do not load the prediction model")
    return parser.parse_args(argv)


def needs_offscreen(screenshot: bool, environ=None, platform: str | None = None) -> bool:
    """Draw off screen: for --screenshot, and on Linux without a display (Qt would abort with the
    xcb plugin error). An explicit QT_QPA_PLATFORM always wins."""
    environ = os.environ if environ is None else environ
    platform = platform or sys.platform
    if environ.get("QT_QPA_PLATFORM"):
        return False
    if screenshot:
        return True
    return platform.startswith("linux") and not environ.get("DISPLAY") and not environ.get("WAYLAND_DISPLAY")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing leaves the machine
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if needs_offscreen(bool(args.screenshot)):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from functools import partial

    from desktop.main_window import MainWindow
    from desktop.prediction_service import default_loader

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from desktop import gc_guard

    gc_guard.install(app)  # cyclic garbage collection on the GUI thread only (see gc_guard)
    app.setOrganizationName("CLaDMoP")
    app.setApplicationName("CLaDMoP Studio")
    app.setApplicationDisplayName("CLaDMoP Studio")
    app.setStyle("Fusion")

    device_given = any(a == "--device" or a.startswith("--device=") for a in argv)
    loader = partial(default_loader, args.model, args.device) if args.model or device_given else None
    window = MainWindow(workspace_path=args.workspace, load_model=not args.no_model, model_loader=loader)
    try:
        width, height = (int(x) for x in args.size.lower().split("x"))
        window.resize(width, height)
    except ValueError:
        parser_error = f"--size must look like 1480x920, not {args.size!r}"
        print(parser_error, file=sys.stderr)
        return 2
    window.show()
    files = list(args.files) + list(args.open)
    missing = [f for f in files if not Path(f).exists()]
    if missing:
        window._report("Open records", "These files do not exist.", [(f, "no such file or folder") for f in missing])
    files = [f for f in files if Path(f).exists()]
    if files:
        QTimer.singleShot(0, lambda: window.open_files(files))

    exit_code = {"code": 0}
    if args.screenshot:
        out = Path(args.screenshot)

        def shoot():
            app.processEvents()
            ok = window.grab().save(str(out))
            if not ok:
                print(f"{out}: could not write the screenshot", file=sys.stderr)
                exit_code["code"] = 1
            window.close()
            app.quit()

        QTimer.singleShot(300, lambda: window.when_idle(shoot, timeout_s=args.screenshot_timeout))
    code = app.exec()
    return exit_code["code"] or code


if __name__ == "__main__":
    sys.exit(main())
