"""Browser: interpretation channels with fake audio. Three interpreters speak tones (one
Chromium process each: the fake-capture file is per process): the Polish booth's two at
440 Hz and 880 Hz, the English booth's at 660 Hz. A Polish participant hears the original
(Warsaw's site on the floor), then Polski by default once somebody is live in it, then
switches Original → Polski → Original; the channel track's inbound-rtp (one SSRC that
never changes: no renegotiation) and the tone an AnalyserNode finds prove which stream
plays. A handover moves the channel from 440 to 880 Hz; the second Polish interpreter
relays from the English channel (660 Hz)."""

from __future__ import annotations

import asyncio
import gc
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, Running, artifact
from tests.e2e.media import audio, until
from tests.unit.interpretation_agenda import TEXT

# Four Chromium processes on a shared machine: each step waits for a condition, bounded.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

TONES = {"pl-booth-1": 440, "pl-booth-2": 880, "en-booth-1": 660}
AUTOPLAY = "--autoplay-policy=no-user-gesture-required"

# The tone the page hears on the channel's <audio> element: the loudest bin of an FFT.
PEAK_JS = """async () => {
  const el = document.querySelector('[data-channel-audio]');
  const track = el && el.srcObject ? el.srcObject.getAudioTracks()[0] : null;
  if (!track) return { hz: 0, db: -200 };
  const ctx = new AudioContext();
  await ctx.resume();
  const an = ctx.createAnalyser();
  an.fftSize = 8192;
  ctx.createMediaStreamSource(new MediaStream([track])).connect(an);
  await new Promise((r) => setTimeout(r, 500));
  const data = new Float32Array(an.frequencyBinCount);
  an.getFloatFrequencyData(data);
  let best = 1;
  for (let i = 2; i < data.length; i++) if (data[i] > data[best]) best = i;
  const out = { hz: (best * ctx.sampleRate) / an.fftSize, db: data[best] };
  await ctx.close();
  return out;
}"""


def write_tone(path: Path, hz: float, seconds: float = 4.0, rate: int = 48_000) -> Path:
    """A 48 kHz mono 16-bit WAV of a sine at ``hz`` (Chromium loops it)."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.5 * 32767 * np.sin(2 * np.pi * hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


@pytest.fixture
async def voices(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """One Chromium per interpreter, speaking its tone; and one for the room (no tone)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        launched: dict[str, Any] = {}
        try:
            for who, hz in TONES.items():
                wav = write_tone(tmp_path / f"{who}.wav", hz)
                args = [*CHROMIUM_ARGS, AUTOPLAY, f"--use-file-for-fake-audio-capture={wav}"]
                launched[who] = await p.chromium.launch(executable_path=CHROMIUM, args=args)
            launched["room"] = await p.chromium.launch(
                executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, AUTOPLAY]
            )
            yield launched
        finally:
            for b in launched.values():
                await b.close()


async def booth_page(browser: Any, running: Running, interpreter: str) -> Any:
    ctx = await browser.new_context(permissions=["microphone", "camera"])
    page = await ctx.new_page()
    said: list[str] = []
    page.on("console", lambda m: said.append(m.text))
    page.on("pageerror", lambda e: said.append(str(e)))
    link = running.link("interpreter", interpreter=interpreter)
    await page.goto(link + "?lang=en")
    try:
        await page.wait_for_function(
            "() => window.confsvc.media.state === 'connected'", timeout=20_000
        )
    except Exception as exc:
        state = await page.evaluate(
            "() => [window.confsvc.media.state, document.querySelector('[data-booth-error]')"
            ".textContent, document.querySelector('[data-video-error]').textContent]"
        )
        raise AssertionError(f"{interpreter}'s page did not connect: {state}; {said}") from exc
    return page


async def tone(page: Any, hz: float, what: str, timeout: float = 20.0) -> dict[str, Any]:
    """Wait until the channel's audio peaks within 25 Hz of ``hz``, loud enough."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        peak = await asyncio.wait_for(page.evaluate(PEAK_JS), 30)
        if abs(peak["hz"] - hz) < 25 and peak["db"] > -70:
            return dict(peak)
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what} ({hz} Hz); last peak {peak}")


async def audio_stats(page: Any) -> dict[str, Any]:
    js = "() => window.confsvc.channels.audioStats()"
    return dict(await asyncio.wait_for(page.evaluate(js), 30))


async def channel_packets(page: Any) -> int:
    ch = (await audio_stats(page))["channel"]
    return int(ch["packetsReceived"]) if ch else 0


async def until_channel(page: Any, more_than: int, what: str) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        stats = await audio_stats(page)
        ch = stats["channel"]
        if ch and ch["packetsReceived"] > more_than and ch["totalAudioEnergy"] > 0:
            return stats
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last {stats}")
        await asyncio.sleep(0.2)


async def silent_channel_while_floor_plays(page: Any) -> None:
    """The channel track takes no packets while the floor's audio goes on (50 packets: 1 s)."""
    start = await audio_stats(page)
    before = start["channel"]["packetsReceived"] if start["channel"] else 0
    floor0 = start["sites"]["warsaw"]["packetsReceived"]
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        now = await audio_stats(page)
        if now["sites"]["warsaw"]["packetsReceived"] > floor0 + 100:
            break
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the floor's audio stopped; last {now}")
        await asyncio.sleep(0.2)
    after = now["channel"]["packetsReceived"] if now["channel"] else 0
    # Packets already on the wire when the switch was made may still arrive: a few.
    assert after - before <= 10, (before, after)


async def choose(page: Any, channel: str) -> None:
    await page.select_option("[data-channel-select]", channel)
    await page.wait_for_function(
        "(ch) => (window.confsvc.channels.channel || '') === ch", arg=channel
    )


async def test_a_listener_switches_channels_and_hears_the_live_interpreter(
    confsvc_app: Any, voices: dict[str, Any], tmp_path: Path
) -> None:
    agenda = tmp_path / "agenda.yaml"
    agenda.write_text(TEXT, encoding="utf-8")
    running: Running = await confsvc_app(agenda_path=agenda)
    host = await running.ws("host")
    assert (await host.command("ros.start"))["type"] == "ack"  # floor: warsaw

    room = await voices["room"].new_context(permissions=["camera", "microphone"])
    site = await room.new_page()
    await site.goto(running.link("site", "warsaw") + "?lang=en")
    await site.wait_for_function("() => document.querySelector('[data-preview]').videoWidth > 0")
    await site.click("[data-join]")
    listener = await room.new_page()
    await listener.goto(running.link("participant") + "?lang=pl")
    await listener.wait_for_function(
        "() => window.confsvc.media.state === 'connected'", timeout=20_000
    )
    await until(listener, lambda s: audio(s, "warsaw") > 2000, "the floor's audio (Warsaw)")
    assert await listener.evaluate("() => window.confsvc.channels.channel") is None
    await silent_channel_while_floor_plays(listener)  # Original: nobody is live

    pl1 = await booth_page(voices["pl-booth-1"], running, "pl-booth-1")
    pl2 = await booth_page(voices["pl-booth-2"], running, "pl-booth-2")
    await pl1.click("[data-take]")
    await pl1.wait_for_function(
        "() => document.querySelector('[data-on-air]').dataset.state === 'on_air'"
    )
    await pl2.wait_for_function(
        "() => document.querySelector('[data-on-air]').dataset.state === 'partner'"
    )
    assert "Polish booth, first interpreter" in await pl2.inner_text("[data-take]")

    # Somebody is live in the page language's channel: a Polish page plays it by itself.
    await listener.wait_for_function("() => window.confsvc.channels.channel === 'pl'")
    stats = await until_channel(listener, 0, "Polski from the first interpreter")
    ssrc = stats["channel"]["ssrc"]
    assert ssrc != stats["sites"]["warsaw"]["ssrc"]
    await tone(listener, 440, "the first Polish interpreter")

    await choose(listener, "")  # Original
    await silent_channel_while_floor_plays(listener)
    await choose(listener, "pl")  # Polski
    before = await channel_packets(listener)
    stats = await until_channel(listener, before + 50, "Polski again")
    assert stats["channel"]["ssrc"] == ssrc  # the same track: nothing was renegotiated
    await tone(listener, 440, "the first Polish interpreter again")

    # Handover in one press: the partner takes over, both booths see it.
    await pl2.click("[data-take]")
    await pl2.wait_for_function(
        "() => document.querySelector('[data-on-air]').dataset.state === 'on_air'"
    )
    await pl1.wait_for_function(
        "() => document.querySelector('[data-on-air]').dataset.state === 'partner'"
    )
    await tone(listener, 880, "the second Polish interpreter after the handover")
    stats = await audio_stats(listener)
    assert stats["channel"]["ssrc"] == ssrc
    playing = [s for s in stats["sites"].values() if s["packetsReceived"] > 0]
    assert len(playing) + 1 <= 2  # the floor's site and the channel: two audio streams

    # Relay: the English booth interprets the floor; the Polish booth listens to English.
    en1 = await booth_page(voices["en-booth-1"], running, "en-booth-1")
    await en1.click("[data-take]")
    await en1.wait_for_function(
        "() => document.querySelector('[data-on-air]').dataset.state === 'on_air'"
    )
    await choose(pl2, "en")
    await tone(pl2, 660, "the English channel at the Polish booth (relay)")
    await tone(listener, 880, "Polski, unchanged by the relay")

    await listener.screenshot(path=str(artifact("interpretation-listener.png")), full_page=True)
    await pl2.screenshot(path=str(artifact("interpretation-booth.png")), full_page=True)

    hub = await running.hub()
    from confsvc.core.interpretation import report

    rep = report(hub.state, hub.clock())
    assert rep is not None
    pl_lane = next(lane for lane in rep["lanes"] if lane["channel"] == "pl")
    assert [t["interpreter"] for t in pl_lane["turns"]] == ["pl-booth-1", "pl-booth-2"]
    await host.close()
    gc.collect()
