"""The Piper engine's onnxruntime session: threads that sleep when idle, as many as configured."""

from __future__ import annotations

from voice.config import PiperEngineConfig
from voice.engines.piper import PiperEngine


async def test_piper_session_threads_never_spin_and_follow_the_config() -> None:
    engine = PiperEngine(PiperEngineConfig(threads=1))
    await engine.start()
    try:
        options = engine._loaded["joe"].session.get_session_options()
        assert options.intra_op_num_threads == 1
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        pcm = await engine.synthesize("The voice still speaks.", "joe")
        assert pcm.duration_s > 0.5
    finally:
        await engine.stop()

