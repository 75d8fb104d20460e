"""`traybell login`: device sign-in from a terminal, approved on the web pages; afterwards the
command line and the tray need no token."""

import asyncio
import json
import signal
import socket
import stat

import asyncpg
import pytest

from tests.support.live import LiveServer
from tests.support.login import LoginProcess, decide, person, traybell


@pytest.fixture
def live_server(database_url: str):
    """Its device sign-in addresses lead back to it, as a real deployment's do."""
    server = LiveServer(database_url, links_home=True)
    yield server
    server.stop()


def test_login_approved_on_the_web_then_send_and_tray_once_need_no_token(live_server, tmp_path):
    """Rule: `traybell login` prints the address and the code, waits for the approval, stores
    the token where the tray keeps it (here the user-only file) with its server, and prints
    `signed in as USER_ID`; then `traybell send` and `traybell tray --once` run with neither
    --server nor --token. The device is named "Traybell on <hostname>". `--admin` asks for
    the admin scope, which the send needs."""
    admin = person(live_server, admin=True)
    login = LoginProcess(tmp_path, "--server", live_server.url, "--admin")
    assert login.verification_uri == f"{live_server.url}/device"
    assert login.verification_uri_complete == f"{login.verification_uri}?code={login.user_code}"
    decide(live_server, admin, login.user_code)
    returncode, rest, stderr = login.finish()
    assert returncode == 0, stderr
    assert rest.strip().splitlines()[-1] == f"signed in as {admin}"

    token_file = tmp_path / "token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    [(server, token)] = [line.split(" ") for line in token_file.read_text().splitlines()]
    assert server == live_server.url
    settings = json.loads((tmp_path / "desktop-settings.json").read_text())
    assert settings["server_url"] == live_server.url and token not in json.dumps(settings)
    with live_server.client(token) as device:
        [mine] = [t for t in device.get("/v1/me/tokens").json()["tokens"] if t["kind"] == "device"]
    assert (mine["name"], mine["scope"]) == (f"Traybell on {socket.gethostname()}", "admin")

    sent = traybell("send", "--to", admin, "--title", "Signed in once", home=tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["inserted"] == 1
    once = traybell("tray", "--once", home=tmp_path)
    assert once.returncode == 0, once.stderr
    assert json.loads(once.stdout) == {"online": True, "new": 1, "unread": 1}


def test_denied_exits_1_and_stores_nothing(live_server, tmp_path):
    """Rule: a sign-in denied in the browser ends `traybell login` with exit 1 and says so;
    no token is stored."""
    user = person(live_server)
    login = LoginProcess(tmp_path, "--server", live_server.url, "--name", "Build agent 7")
    decide(live_server, user, login.user_code, "deny")
    returncode, _, stderr = login.finish()
    assert returncode == 1
    assert "denied" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "token").exists()


def test_expired_exits_1_and_stores_nothing(live_server, tmp_path):
    """Rule: a code that expires before anyone approves it ends `traybell login` with exit 1
    and a message saying so."""
    login = LoginProcess(tmp_path, "--server", live_server.url)

    async def expire() -> None:
        conn = await asyncpg.connect(live_server.database_url)
        try:
            await conn.execute("UPDATE device_codes SET expires_at = now()")
        finally:
            await conn.close()

    asyncio.run(expire())
    returncode, _, stderr = login.finish()
    assert returncode == 1
    assert "expired" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "token").exists()


def test_on_a_terminal_a_qr_code_and_ctrl_c_stores_nothing(live_server, tmp_path):
    """Rule: on a terminal, `traybell login` also shows the complete address as a QR code;
    Ctrl-C while it waits ends it (exit 130) with nothing stored, and a sign-in approved
    after that finds no one waiting."""
    user = person(live_server)
    login = LoginProcess(tmp_path, "--server", live_server.url, terminal=True)
    assert "scan this code" in login.shown
    assert "█" in login.shown and "▀" in login.shown  # drawn with half blocks
    login.process.send_signal(signal.SIGINT)
    returncode, _, stderr = login.finish()
    assert returncode == 130, stderr
    assert "cancelled" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "token").exists()
    assert not (tmp_path / "desktop-settings.json").exists()
    decide(live_server, user, login.user_code)  # approving now hands nobody a token
    once = traybell("tray", "--once", "--server", live_server.url, home=tmp_path)
    assert once.returncode == 1 and "traybell login" in once.stderr


def test_send_without_a_token_says_how_to_sign_in_and_takes_the_environment(live_server, tmp_path):
    """Rule: `traybell send` without a token anywhere says how to sign in (exit 1); with
    TRAYBELL_SERVER and TRAYBELL_TOKEN it needs no flags."""
    user, _ = live_server.create_user()
    unsigned = traybell("send", "--to", user, "--title", "x", home=tmp_path)
    assert unsigned.returncode == 1 and "traybell login" in unsigned.stderr
    env_signed = traybell(
        "send",
        "--to",
        user,
        "--title",
        "From the environment",
        home=tmp_path,
        env={"TRAYBELL_SERVER": live_server.url, "TRAYBELL_TOKEN": live_server.admin_token},
    )
    assert env_signed.returncode == 0, env_signed.stderr
    assert json.loads(env_signed.stdout)["inserted"] == 1
