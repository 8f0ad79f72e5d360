"""An aiogram 3 echo bot for ``bench/telegram_bench.py``: long-polls a Bot API server until SIGTERM.

aiogram pins an older pydantic than this project, so it lives in its own virtual environment
(``bench/requirements-aiogram.txt``) and runs as its own process: the benchmark passes that
environment's interpreter with ``--aiogram-python``. Imports nothing from this project.

Run: ``AIOGRAM_PY bench/aiogram_echo.py http://127.0.0.1:PORT TOKEN`` (prints ``ready`` once polling).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message


async def main(server: str, token: str) -> None:
    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(server)))
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    polling = asyncio.create_task(dispatcher.start_polling(bot, polling_timeout=1, handle_signals=False))
    print("ready", flush=True)
    await stop.wait()
    await dispatcher.stop_polling()
    await asyncio.gather(polling, return_exceptions=True)
    await bot.session.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(sys.argv[1], sys.argv[2]))
