"""The embedded mode's Celery broker: kombu's filesystem transport with messages that appear whole.

kombu writes a message straight into the queue folder (open, lock, write), and a consumer takes any
file it lists by moving it, which ignores the lock: one that moves the file between the open and
the write reads an empty message, and the worker stops with "Unrecoverable error: JSONDecodeError"
(seen under load in the test suite). Here a message is written under a name consumers skip (it
does not end in `.<queue>.msg`) and renamed into place, which is atomic within one folder.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        # The same name kombu gives a message: consumers take them in this (time) order.
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.partial")
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
