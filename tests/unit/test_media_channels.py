"""Interpretation channels in the room, without aiortc or a sleep: an interpreter's voice
reaches its channel's slot only while the booth has it on air, the channel's timeline
goes on across handovers, and a listener's channel track moves between slots."""

from __future__ import annotations

import itertools

from confsvc.media.room import STEP, Room, VoiceFeed, channel_slot
from tests.unit.test_media_room import make_room, subscriber


def voices() -> tuple[Room, VoiceFeed, VoiceFeed]:
    room, _clock = make_room(["warsaw"])
    pl1 = VoiceFeed(room, "pl-booth-1", "pl", peer=object())
    pl2 = VoiceFeed(room, "pl-booth-2", "pl", peer=object())
    room.attach_voice(pl1)
    room.attach_voice(pl2)
    return room, pl1, pl2


def test_only_the_interpreter_on_air_reaches_the_channel() -> None:
    room, pl1, pl2 = voices()
    listener = subscriber(room, channel_slot("pl"), "audio")
    pl1.on_audio(b"one", 1000, True)
    assert listener.got == []  # nobody on air: the channel is silent
    room.set_interpretation({"pl": "pl-booth-1"})
    pl1.on_audio(b"one", 1960, True)
    pl2.on_audio(b"two", 50_000, True)
    assert [d for d, _, _ in listener.got] == [b"one"]
    assert (pl1.forwarded, pl2.forwarded) == (1, 0)


def test_a_handover_continues_the_channel_timeline() -> None:
    room, pl1, pl2 = voices()
    listener = subscriber(room, channel_slot("pl"), "audio")
    room.set_interpretation({"pl": "pl-booth-1"})
    for n in range(3):
        pl1.on_audio(b"one", 10_000 + n * 960, True)
    room.set_interpretation({"pl": "pl-booth-2"})
    pl1.on_audio(b"one", 10_000 + 3 * 960, True)  # off air now: not forwarded
    pl2.on_audio(b"two", 777_777, True)  # another clock entirely
    pl2.on_audio(b"two", 777_777 + 960, True)
    stamps = [pts for _, pts, _ in listener.got]
    assert [d for d, _, _ in listener.got] == [b"one"] * 3 + [b"two"] * 2
    assert [b - a for a, b in itertools.pairwise(stamps)] == [STEP["audio"]] * 4


def test_coughing_or_leaving_silences_the_channel_and_nothing_else() -> None:
    room, pl1, _pl2 = voices()
    listener = subscriber(room, channel_slot("pl"), "audio")
    room.set_interpretation({"pl": "pl-booth-1"})
    assert room.set_interpretation({"pl": "pl-booth-1"}) is False
    room.set_interpretation({})  # the core: coughing
    pl1.on_audio(b"one", 1000, True)
    assert listener.got == []
    assert room.channel_changes[-1]["on_air"] == {}


def test_a_channel_track_moves_between_slots_without_a_new_subscription() -> None:
    room, pl1, _pl2 = voices()
    en = VoiceFeed(room, "en-booth-1", "en", peer=object())
    room.attach_voice(en)
    room.set_interpretation({"pl": "pl-booth-1", "en": "en-booth-1"})
    track = subscriber(room, "", "audio")  # the original only
    pl1.on_audio(b"pl", 1000, True)
    en.on_audio(b"en", 1000, True)
    assert track.got == []
    assert room.switch(track, channel_slot("pl")) is True
    pl1.on_audio(b"pl", 1960, True)
    en.on_audio(b"en", 1960, True)
    assert room.switch(track, channel_slot("en")) is True
    assert room.switch(track, channel_slot("en")) is False
    pl1.on_audio(b"pl", 2920, True)
    en.on_audio(b"en", 2920, True)
    room.switch(track, "")
    pl1.on_audio(b"pl", 3880, True)
    assert [d for d, _, _ in track.got] == [b"pl", b"en"]
    assert room.stats()["subscribers"][f"{channel_slot('en')}/audio"] == 0


def test_a_room_with_a_voice_is_not_idle_until_it_leaves() -> None:
    room, pl1, pl2 = voices()
    assert room.idle() is False
    room.detach_voice(pl1)
    room.detach_voice(pl2)
    assert room.idle() is True
