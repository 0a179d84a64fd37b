"""The media package's name for ``confsvc.ice`` (ICE servers and TURN credentials).

The module moved out of ``media/`` so the web adapter, which hands ICE servers to every
page, does not import the media package; media code and its tests keep this import.
"""

from confsvc.ice import (
    SCHEMES,
    TURN_SCHEMES,
    check_ice_url,
    ice_servers_for,
    is_turn,
    mint_turn_credential,
    turn_label,
)

__all__ = [
    "SCHEMES",
    "TURN_SCHEMES",
    "check_ice_url",
    "ice_servers_for",
    "is_turn",
    "mint_turn_credential",
    "turn_label",
]
