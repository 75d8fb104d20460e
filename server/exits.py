"""How a command that cannot start ends: one line on standard error that names the setting and
the fix (never a traceback), and an exit status saying which kind of failure it is, for
systemd's `RestartPreventExitStatus` and for alerts (README, "Exit codes")."""

#: A setting is wrong, names a file or folder that is missing, or the database is of a newer
#: release: restarting cannot help.
CONFIGURATION = 2
#: The port to listen on is taken.
PORT_IN_USE = 3
#: The database does not answer: it may come back, so a restart may help.
DATABASE_UNREACHABLE = 4


class StartupFailure(Exception):
    """Stops a command before it starts; `traybell` prints the message and exits `status`."""

    def __init__(self, message: str, status: int = CONFIGURATION):
        super().__init__(message)
        self.status = status
