"""Python's cyclic garbage collector, run on the GUI thread only.

Left to itself, the collector runs in whichever thread happens to allocate: a background task,
or (in the tests) a server thread. Freeing a cycle that holds a Qt object there destroys that
object outside the GUI thread, which crashes Qt. So automatic collection is off while the tray
runs, and this timer collects on the GUI thread, generation by generation, when the counts pass
the usual thresholds (calibre's approach).
"""

import gc

from PySide6.QtCore import QObject, QTimer

CHECK_INTERVAL_MS = 1_000


class GuiThreadCollector(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._timer = QTimer(self, interval=CHECK_INTERVAL_MS, timeout=self.collect_due)

    def start(self) -> None:
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        gc.collect()
        gc.enable()

    def collect_due(self) -> None:
        young, middle, old = gc.get_count()
        if young > self._thresholds[0]:
            gc.collect(0)
            if middle > self._thresholds[1]:
                gc.collect(1)
                if old > self._thresholds[2]:
                    gc.collect(2)
