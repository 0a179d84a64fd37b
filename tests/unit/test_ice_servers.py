"""``confsvc.media.ice``: URL checks, coturn REST credentials, what a connection is given."""

from __future__ import annotations

import pytest

from confsvc.config import Config
from confsvc.media.ice import check_ice_url, ice_servers_for, mint_turn_credential, turn_label

NOW = 1_700_000_000.75
TURN = "turn:turn.example.org:3478"
SECRET = "s3cret-shared"
# echo -n "1700086400:conf.participant-inv1" | openssl dgst -sha1 -hmac s3cret-shared -binary | base64
KNOWN_USERNAME = "1700086400:conf.participant-inv1"
KNOWN_CREDENTIAL = "hGb9evu/5Xm+lkWzzARVY2PQ1Dw="


def test_minted_credential_matches_the_coturn_formula() -> None:
    assert mint_turn_credential(SECRET, "conf.participant-inv1", 1_700_086_400) == (
        KNOWN_USERNAME,
        KNOWN_CREDENTIAL,
    )


def test_turn_entry_gets_minted_credentials_valid_for_the_ttl() -> None:
    cfg = Config(ice_servers=[{"urls": TURN}], turn_secret=SECRET, turn_ttl_s=86400)
    assert ice_servers_for(cfg, "conf.participant/inv1", NOW) == [
        {"urls": TURN, "username": KNOWN_USERNAME, "credential": KNOWN_CREDENTIAL}
    ]


def test_expiry_follows_now_and_ttl() -> None:
    cfg = Config(ice_servers=[{"urls": TURN}], turn_secret=SECRET, turn_ttl_s=600)
    [entry] = ice_servers_for(cfg, "x", 1000.9)
    assert str(entry["username"]).split(":", 1)[0] == "1600"


def test_stun_entry_goes_without_credentials() -> None:
    cfg = Config(
        ice_servers=[{"urls": "stun:stun.example.org"}, {"urls": TURN}], turn_secret=SECRET
    )
    stun, turn = ice_servers_for(cfg, "x", NOW)
    assert stun == {"urls": "stun:stun.example.org"}
    assert set(turn) == {"urls", "username", "credential"}


def test_static_credentials_are_handed_out_as_configured() -> None:
    cfg = Config(
        ice_servers=[{"urls": [TURN, "turns:turn.example.org:5349"]}],
        turn_username="confsvc",
        turn_password="static-pass",
    )
    assert ice_servers_for(cfg, "x", NOW) == [
        {
            "urls": [TURN, "turns:turn.example.org:5349"],
            "username": "confsvc",
            "credential": "static-pass",
        }
    ]


def test_entry_with_its_own_credentials_is_kept() -> None:
    own = {"urls": TURN, "username": "u", "credential": "p"}
    cfg = Config(ice_servers=[own], turn_secret=SECRET)
    assert ice_servers_for(cfg, "x", NOW) == [own]


def test_no_servers_by_default() -> None:
    assert Config().ice_servers == []
    assert ice_servers_for(Config(turn_secret=SECRET), "x", NOW) == []


def test_config_is_not_changed() -> None:
    cfg = Config(ice_servers=[{"urls": TURN}], turn_secret=SECRET)
    ice_servers_for(cfg, "x", NOW)
    assert cfg.ice_servers == [{"urls": TURN}]


def test_secrets_are_not_in_the_config_repr() -> None:
    text = repr(Config(turn_secret=SECRET, turn_username="u", turn_password="static-pass"))
    assert SECRET not in text
    assert "static-pass" not in text


def test_secret_is_not_in_what_is_handed_out() -> None:
    cfg = Config(ice_servers=[{"urls": TURN}], turn_secret=SECRET)
    assert SECRET not in repr(ice_servers_for(cfg, SECRET, NOW)[0]["credential"])


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("weifang-olsztyn-2020.site:warsaw/inv_1", "weifang-olsztyn-2020.site-warsaw-inv_1"),
        ("a b::c", "a-b-c"),
        (":::", "confsvc"),
        ("x" * 100, "x" * 64),
    ],
)
def test_label_has_no_coturn_separator(label: str, expected: str) -> None:
    assert turn_label(label) == expected


@pytest.mark.parametrize(
    "url",
    [
        "stun:stun.example.org",
        "stun:192.0.2.1:3478",
        "turn:turn.example.org",
        "turn:turn.example.org:3478?transport=udp",
        "turn:turn.example.org:443?transport=tcp",
        "turns:turn.example.org:5349",
        "turns:turn.example.org?transport=tcp",
    ],
)
def test_good_urls_pass(url: str) -> None:
    assert check_ice_url(url) == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://turn.example.org", "must start with stun:, turn: or turns:"),
        ("turn.example.org:3478", "must start with stun:, turn: or turns:"),
        ("TURN:turn.example.org", "must start with stun:, turn: or turns:"),
        ("stuns:stun.example.org", "must start with stun:, turn: or turns:"),
        ("turn://turn.example.org", "write turn:HOST[:PORT], without //"),
        ("turn:[::1]:3478", "IPv6 literals are not supported (aiortc); use a host name"),
        ("turn:", "must be stun:HOST[:PORT]"),
        ("turn:host:port", "must be stun:HOST[:PORT]"),
        ("turn:host:3478/x", "must be stun:HOST[:PORT]"),
        ("turn:host:0", "the port must be 1 to 65535"),
        ("turn:host:70000", "the port must be 1 to 65535"),
        ("stun:host?transport=udp", "stun: takes transport none, not 'udp'"),
        ("turns:host?transport=udp", "turns: takes transport tcp, not 'udp'"),
        ("turn:host?transport=tls", "turn: takes transport udp or tcp, not 'tls'"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        check_ice_url(url)
    assert str(info.value).startswith(reason)
