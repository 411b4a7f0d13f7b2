"""Whether an agent's phone is registered with the SIP front: asked of Kamailio's usrloc (its RPC ``ul.lookup``).

The supervisor hands the web app a :class:`FrontRegistrar` before the front starts and points it at the running
Kamailio once it has; a console served without the engine (``hotline up --no-engine``) has no front to ask, so
"is the phone registered?" has no answer there, and going available is refused unless
``console.require_registration`` is off (agents whose phones register elsewhere).
"""

from __future__ import annotations

from typing import Protocol

from hotline.errors import HotlineError


class RegistrationUnknown(HotlineError):
    """The front cannot be asked (not running, or its RPC failed)."""


class Front(Protocol):
    async def contacts(self, username: str) -> list[str]: ...


class FrontRegistrar:
    def __init__(self) -> None:
        self.front: Front | None = None

    async def contacts(self, username: str) -> list[str]:
        """The contacts registered for ``username`` (empty: not registered); RegistrationUnknown without a front."""
        if self.front is None:
            raise RegistrationUnknown("the SIP front is not running in this service: registration cannot be checked")
        try:
            return await self.front.contacts(username)
        except (HotlineError, OSError) as exc:
            raise RegistrationUnknown(f"the SIP front did not answer: {exc}") from None
