"""Websocket routes in the style of vosk-server: a JSON config message, binary PCM frames, JSON results out.

Protocol: the client sends ``{"config": {"sample_rate": 8000, "call_id": "<uuid>", "channel": "caller"}}``,
then binary frames of 16-bit little-endian mono PCM, then ``{"eof": 1}``. The server answers every audio frame
with ``{"partial": "..."}`` or a final ``{"result": [{"word", "start", "end", "conf"}...], "text": "..."}``,
and the last final after eof. Errors are ``{"error": "...", "code": "..."}`` followed by a close.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import WSMsgType, web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hotline.transcribe import backlog
from hotline.transcribe.service import BadStreamConfig, CapacityExceeded, LiveStream, StreamConfig, Transcriber

log = logging.getLogger(__name__)

TRANSCRIBER = web.AppKey("transcriber", Transcriber)
CONFIG_TIMEOUT = 10.0


async def _error(ws: web.WebSocketResponse, code: str, message: str) -> web.WebSocketResponse:
    await ws.send_json({"error": message, "code": code})
    await ws.close()
    return ws


async def asr(request: web.Request) -> web.WebSocketResponse:
    transcriber = request.app[TRANSCRIBER]
    ws = web.WebSocketResponse(max_msg_size=1 << 20)
    await ws.prepare(request)
    try:
        first = await ws.receive(timeout=CONFIG_TIMEOUT)
    except TimeoutError:
        return await _error(ws, "no_config", f"no config message within {CONFIG_TIMEOUT:g} s")
    if first.type != WSMsgType.TEXT:
        return await _error(ws, "no_config", "the first message must be a JSON text config, got binary or close")
    try:
        cfg = StreamConfig.parse(json.loads(first.data))
        stream = await transcriber.open_stream(cfg)
    except json.JSONDecodeError:
        return await _error(ws, "bad_config", f"the first message is not JSON: {first.data[:200]!r}")
    except BadStreamConfig as exc:
        return await _error(ws, "bad_config", str(exc))
    except CapacityExceeded as exc:
        return await _error(ws, "capacity", str(exc))
    try:
        await _pump(ws, stream)
    except Exception as exc:
        log.exception("transcription stream %s failed", stream.id)
        await stream.fail(f"{type(exc).__name__}: {exc}")
        if not ws.closed:
            await _error(ws, "failed", "transcription failed; the call will be transcribed from its recording")
    finally:
        if not stream.closed:
            await asyncio.shield(stream.fail("client disconnected before eof"))
    return ws


async def _pump(ws: web.WebSocketResponse, stream: LiveStream) -> None:
    async for msg in ws:
        if msg.type == WSMsgType.BINARY:
            for result in await stream.feed(msg.data):
                await ws.send_json(result)
        elif msg.type == WSMsgType.TEXT:
            try:
                eof = json.loads(msg.data).get("eof")
            except (json.JSONDecodeError, AttributeError):
                eof = None
            if not eof:
                await ws.send_json(
                    {"error": f'expected binary PCM or {{"eof": 1}}, got text {msg.data[:200]!r}', "code": "bad_frame"}
                )
                continue
            await ws.send_json(await stream.finish())
            await ws.close()
            return


async def backlog_status(request: web.Request) -> web.Response:
    transcriber = request.app[TRANSCRIBER]
    if transcriber.pool is None:
        return web.json_response({"error": "no database configured"}, status=503)
    s = await backlog.stats(transcriber.pool)
    return web.json_response({"calls": s.calls, "oldest_seconds": s.oldest_seconds, "live_streams": transcriber.live})


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def make_app(transcriber: Transcriber) -> web.Application:
    app = web.Application()
    app[TRANSCRIBER] = transcriber
    app.router.add_get("/", asr)
    app.router.add_get("/asr", asr)
    app.router.add_get("/backlog", backlog_status)
    app.router.add_get("/metrics", metrics)
    return app
