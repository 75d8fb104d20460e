"""Device sign-in (RFC 8628 in the server's shape): a token without pasting one.

`start()` asks the server for a code, the person approves it in a browser, and `wait()` polls
until they decided. One implementation for `traybell login` and the tray's sign-in window;
it blocks, so the tray runs `wait()` off the GUI thread, and both stop it with an Event.
"""

import logging
import threading
import time
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from desktop.links import is_web_url
from desktop.sync._api import ApiClient, ApiError, Offline, Refused, SignedOut
from shared.i18n import gettext as _
from shared.models import DeviceAuthorization

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("traybell.desktop.device")

#: What a `slow_down` answer adds to the polling interval (RFC 8628, section 3.5).
SLOW_DOWN_SECONDS = 5


class SignInError(Exception):
    """No sign-in came of it; the message is for people."""


class SignInDenied(SignInError):
    """The person denied the sign-in in the browser."""


class SignInExpired(SignInError):
    """The code ran out (or was used) before anyone approved it."""


class SignInCancelled(SignInError):
    """This side gave up waiting (Ctrl-C, the window closed)."""


@dataclass(frozen=True)
class SignedIn:
    """A working token and whose it is."""

    server_url: str
    token: str
    token_id: str
    user_id: str


class DeviceSignIn:
    """One device sign-in against one server."""

    def __init__(
        self,
        server_url: str,
        client_name: str,
        *,
        admin: bool = False,
        ca_bundle: str | None = None,
        transport: "httpx.BaseTransport | None" = None,
    ) -> None:
        """`admin`: ask for a token that may act as an admin (only an admin can approve it)."""
        self.server_url = server_url.rstrip("/")
        self.client_name = client_name
        self.scope = "admin" if admin else "user"
        self._ca_bundle, self._transport = ca_bundle, transport
        self._api = ApiClient(self.server_url, None, ca_bundle=ca_bundle, transport=transport)
        self.code: DeviceAuthorization | None = None
        #: Seconds between polls: the server's interval, plus SLOW_DOWN_SECONDS per slow_down.
        self.interval = 0

    def close(self) -> None:
        self._api.close()

    def start(self) -> DeviceAuthorization:
        """Ask for a code to show; raises SignInError when the server cannot give one."""
        try:
            reply = self._api.call(
                "POST",
                "/v1/device/authorize",
                json={"client_name": self.client_name, "scope": self.scope},
            )
        except Offline as exc:
            raise SignInError(
                _("Cannot reach %(server)s: %(error)s", server=self.server_url, error=exc)
            ) from exc
        except Refused as exc:
            if exc.status in (404, 405):
                raise SignInError(
                    _(
                        "%(server)s does not offer sign-in with a browser; use a token",
                        server=self.server_url,
                    )
                ) from exc
            raise self._refused(exc) from exc
        except ApiError as exc:
            raise self._refused(exc) from exc
        code = DeviceAuthorization(**{f.name: reply[f.name] for f in fields(DeviceAuthorization)})
        if not (is_web_url(code.verification_uri) and is_web_url(code.verification_uri_complete)):
            # Shown as a link, opened in the browser, drawn as a QR code: web pages only.
            raise SignInError(
                _(
                    "%(server)s gave an approval page that is not a web page",
                    server=self.server_url,
                )
            )
        self.code = code
        self.interval = self.code.interval
        return self.code

    def _refused(self, exc: ApiError) -> SignInError:
        return SignInError(
            _("%(server)s refused the sign-in: %(error)s", server=self.server_url, error=exc)
        )

    def wait(self, cancel: threading.Event | None = None) -> SignedIn:
        """Poll every `interval` seconds until the person approved (the token) or denied, the
        code expired, or `cancel` was set; the last three raise SignInError subclasses.

        A network failure while waiting ends nothing: the person may take minutes, and a
        blip in between must not make them start over; only the code's expiry does.
        """
        if self.code is None:
            raise RuntimeError("start() first")
        cancel = cancel or threading.Event()
        deadline = time.monotonic() + self.code.expires_in
        while True:
            if cancel.wait(self.interval):
                raise SignInCancelled(_("Sign-in cancelled."))
            try:
                grant = self._api.call(
                    "POST", "/v1/device/token", json={"device_code": self.code.device_code}
                )
            except Refused as exc:
                self._take_refusal(exc)
                continue
            except (Offline, SignedOut) as exc:
                if time.monotonic() >= deadline:
                    raise SignInExpired(_("The code expired while the server was away.")) from exc
                log.info("device sign-in: server away, polling on: %s", exc)
                continue
            signed_in = SignedIn(
                self.server_url, grant["token"], grant["token_id"], grant["user_id"]
            )
            if cancel.is_set():
                # Cancelled while the poll that got the token was in flight: nobody will keep
                # it, so it must not stay valid on the server.
                revoke(signed_in, ca_bundle=self._ca_bundle, transport=self._transport)
                raise SignInCancelled(_("Sign-in cancelled."))
            return signed_in

    def _take_refusal(self, refused: Refused) -> None:
        """Keep polling (pending, slow_down), or raise what ends the sign-in."""
        if refused.code == "authorization_pending":
            return
        if refused.code == "slow_down":
            self.interval += SLOW_DOWN_SECONDS
            log.info("device sign-in: asked to slow down, polling every %d s", self.interval)
            return
        if refused.code == "access_denied":
            raise SignInDenied(_("The sign-in was denied in the browser."))
        if refused.code == "expired_token":
            raise SignInExpired(_("The code expired before it was approved; start again."))
        raise SignInError(_("The server ended the sign-in: %(error)s", error=refused))


def check_token(
    server_url: str,
    token: str,
    *,
    ca_bundle: str | None = None,
    transport: "httpx.BaseTransport | None" = None,
) -> SignedIn:
    """A pasted token, checked with the server (`GET /v1/me`); SignInError when refused."""
    server_url = server_url.rstrip("/")
    api = ApiClient(server_url, token, ca_bundle=ca_bundle, transport=transport)
    try:
        me = api.call("GET", "/v1/me")
    except SignedOut as exc:
        raise SignInError(_("The server does not accept this token.")) from exc
    except Offline as exc:
        raise SignInError(
            _("Cannot reach %(server)s: %(error)s", server=server_url, error=exc)
        ) from exc
    except ApiError as exc:
        raise SignInError(
            _("%(server)s refused the token: %(error)s", server=server_url, error=exc)
        ) from exc
    finally:
        api.close()
    return SignedIn(server_url, token, me["token_id"], me["user"]["user_id"])


def revoke(
    signed_in: SignedIn,
    *,
    ca_bundle: str | None = None,
    transport: "httpx.BaseTransport | None" = None,
) -> bool:
    """Revoke a token with itself; whether it is void on the server now."""
    api = ApiClient(signed_in.server_url, signed_in.token, ca_bundle=ca_bundle, transport=transport)
    try:
        return revoke_own_token(api, signed_in.token_id)
    finally:
        api.close()


def revoke_own_token(api: ApiClient, token_id: str | None = None) -> bool:
    """`DELETE /v1/me/tokens/{id}` of the token `api` calls with (its id learnt from
    `GET /v1/me` when not given); whether the token is void on the server now."""
    try:
        if token_id is None:
            token_id = api.call("GET", "/v1/me")["token_id"]
        api.call("DELETE", f"/v1/me/tokens/{token_id}")
    except SignedOut:
        return True  # refused already: as void as it gets
    except ApiError as exc:
        log.warning("could not revoke this client's token on the server: %s", exc)
        return False
    return True
